/*
 * Unit tests of the PKCS#11 module's rules that need no server: life cycle
 * and locking arguments, the two-call length convention, session states,
 * operation state (active, kept, ended), template checks on key generation,
 * attribute templates of a key object, the format helpers, and the
 * automatic-login configuration and credential-file watch. The module points
 * at a unix socket nobody listens on, so any network use would fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "pkcs11_int.h"

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount);

static int setup(void **state)
{
	setenv("KEYWARD_PKCS11_CONF", "/nonexistent/keyward-pkcs11.conf", 1);
	unsetenv("KEYWARD_TOKEN");
	unsetenv("VAULT_TOKEN");
	unsetenv("KEYWARD_TOKEN_FILE");
	unsetenv("KEYWARD_KUBERNETES_ROLE");
	unsetenv("KEYWARD_KUBERNETES_MOUNT");
	unsetenv("KEYWARD_SERVICE_ACCOUNT_TOKEN_FILE");
	setenv("KEYWARD_ADDR", "unix:/nonexistent/keyward.sock", 1);
	return 0;
}

static int init(void **state)
{
	/* A missing conf named explicitly is an error; use none. */
	unsetenv("KEYWARD_PKCS11_CONF");
	return C_Initialize(NULL) == CKR_OK ? 0 : -1;
}

static int fini(void **state)
{
	return C_Finalize(NULL) == CKR_OK ? 0 : -1;
}

static CK_SESSION_HANDLE open_session(CK_FLAGS flags)
{
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;

	assert_int_equal(C_OpenSession(0, flags, NULL, NULL, &h), CKR_OK);
	return h;
}

/* /pkcs11/lifecycle */
static void test_lifecycle(void **state)
{
	CK_INFO info;
	CK_C_INITIALIZE_ARGS half = {0};

	unsetenv("KEYWARD_PKCS11_CONF");
	assert_int_equal(C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	half.CreateMutex = (CK_CREATEMUTEX)1; /* one of four: refused */
	assert_int_equal(C_Initialize(&half), CKR_ARGUMENTS_BAD);
	assert_int_equal(C_Initialize(NULL), CKR_OK);
	assert_int_equal(C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	assert_int_equal(C_GetInfo(&info), CKR_OK);
	assert_int_equal(info.cryptokiVersion.major, 2);
	assert_int_equal(info.cryptokiVersion.minor, 40);
	assert_int_equal(C_Finalize((CK_VOID_PTR)1), CKR_ARGUMENTS_BAD);
	assert_int_equal(C_Finalize(NULL), CKR_OK);
}

static int mutexes_made;
static int locks_taken;

static CK_RV mx_create(CK_VOID_PTR_PTR m)
{
	mutexes_made++;
	*m = calloc(1, 1);
	return *m ? CKR_OK : CKR_HOST_MEMORY;
}
static CK_RV mx_destroy(CK_VOID_PTR m)
{
	free(m);
	return CKR_OK;
}
static CK_RV mx_lock(CK_VOID_PTR m)
{
	locks_taken++;
	return CKR_OK;
}
static CK_RV mx_unlock(CK_VOID_PTR m)
{
	return CKR_OK;
}

/* /pkcs11/caller-mutexes: without CKF_OS_LOCKING_OK the caller's are used. */
static void test_caller_mutexes(void **state)
{
	CK_C_INITIALIZE_ARGS a = {mx_create, mx_destroy, mx_lock, mx_unlock, 0, NULL};
	CK_ULONG n = 0;

	unsetenv("KEYWARD_PKCS11_CONF");
	assert_int_equal(C_Initialize(&a), CKR_OK);
	assert_int_equal(C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	assert_true(mutexes_made > 0);
	assert_true(locks_taken > 0);
	assert_int_equal(C_Finalize(NULL), CKR_OK);
}

/* /pkcs11/slot-list-two-call */
static void test_slot_list_two_call(void **state)
{
	CK_SLOT_ID ids[4];
	CK_ULONG n = 0;

	assert_int_equal(C_GetSlotList(CK_TRUE, NULL, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(C_GetSlotList(CK_TRUE, ids, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 1);
	n = 4;
	assert_int_equal(C_GetSlotList(CK_TRUE, ids, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 0);
}

/* /pkcs11/mechanisms */
static void test_mechanisms(void **state)
{
	CK_MECHANISM_TYPE list[64];
	CK_MECHANISM_INFO info;
	CK_ULONG n = 0;

	assert_int_equal(C_GetMechanismList(0, NULL, &n), CKR_OK);
	assert_true(n > 10);
	n = 1;
	assert_int_equal(C_GetMechanismList(0, list, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, p11_mech_count());
	assert_int_equal(C_GetMechanismList(7, NULL, &n), CKR_SLOT_ID_INVALID);
	assert_int_equal(C_GetMechanismInfo(0, CKM_ECDSA_SHA256, &info), CKR_OK);
	assert_true(info.flags & CKF_SIGN);
	assert_int_equal(C_GetMechanismInfo(0, CKM_AES_GCM, &info), CKR_OK);
	assert_true(info.flags & CKF_DECRYPT);
	assert_int_equal(C_GetMechanismInfo(0, CKM_ECDH1_DERIVE, &info), CKR_OK);
	assert_true(info.flags & CKF_DERIVE);
	assert_int_equal(C_GetMechanismInfo(0, CKM_AES_KEY_WRAP_PAD, &info), CKR_OK);
	assert_true(info.flags & CKF_UNWRAP);
	assert_int_equal(C_GetMechanismInfo(0, CKM_RSA_PKCS_OAEP, &info), CKR_OK);
	assert_true(info.flags & CKF_DECRYPT);
	assert_int_equal(C_GetMechanismInfo(0, CKM_DES3_CBC, &info), CKR_MECHANISM_INVALID);
}

/* /pkcs11/interfaces */
static void test_interfaces(void **state)
{
	CK_INTERFACE ifs[2];
	CK_ULONG n = 0;
	CK_FUNCTION_LIST_PTR fl = NULL;

	assert_int_equal(C_GetInterfaceList(NULL, &n), CKR_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(C_GetInterfaceList(ifs, &n), CKR_BUFFER_TOO_SMALL);
	n = 2;
	assert_int_equal(C_GetInterfaceList(ifs, &n), CKR_OK);
	assert_string_equal((const char *)ifs[0].pInterfaceName, "PKCS 11");
	assert_int_equal(C_GetFunctionList(&fl), CKR_OK);
	assert_ptr_equal(ifs[0].pFunctionList, fl);
	assert_ptr_equal(fl->C_Sign, C_Sign);
}

/* /pkcs11/session-states */
static void test_session_states(void **state)
{
	CK_SESSION_HANDLE ro, rw, h;
	CK_SESSION_INFO si;

	assert_int_equal(C_OpenSession(0, 0, NULL, NULL, &h), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	assert_int_equal(C_OpenSession(3, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_SLOT_ID_INVALID);
	ro = open_session(CKF_SERIAL_SESSION);
	rw = open_session(CKF_SERIAL_SESSION | CKF_RW_SESSION);
	assert_int_equal(C_GetSessionInfo(ro, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(C_GetSessionInfo(rw, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RW_PUBLIC_SESSION);
	assert_true(si.flags & CKF_RW_SESSION);
	assert_int_equal(C_Logout(rw), CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR) "x", 1), CKR_USER_TYPE_INVALID);
	assert_int_equal(C_Login(rw, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR) "x", 1),
	                 CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(C_CloseSession(ro), CKR_OK);
	assert_int_equal(C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(C_GetSessionInfo(ro, &si), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(C_CloseAllSessions(0), CKR_OK);
	assert_int_equal(C_GetSessionInfo(rw, &si), CKR_SESSION_HANDLE_INVALID);
}

/* /pkcs11/digest-two-call: the length query and a short buffer keep the
 * operation; success ends it. */
static void test_digest_two_call(void **state)
{
	static const uint8_t abc_sha256[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
	                                       0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	                                       0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	                                       0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	uint8_t out[64];
	CK_ULONG n = 0;

	assert_int_equal(C_Digest(s, (CK_BYTE_PTR) "abc", 3, out, &n),
	                 CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(C_DigestInit(s, &m), CKR_OK);
	assert_int_equal(C_DigestInit(s, &m), CKR_OPERATION_ACTIVE);
	assert_int_equal(C_Digest(s, (CK_BYTE_PTR) "abc", 3, NULL, &n), CKR_OK);
	assert_int_equal(n, 32);
	n = 31;
	assert_int_equal(C_Digest(s, (CK_BYTE_PTR) "abc", 3, out, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 32);
	n = sizeof(out);
	assert_int_equal(C_Digest(s, (CK_BYTE_PTR) "abc", 3, out, &n), CKR_OK);
	assert_int_equal(n, 32);
	assert_memory_equal(out, abc_sha256, 32);
	assert_int_equal(C_DigestFinal(s, out, &n), CKR_OPERATION_NOT_INITIALIZED);

	/* Multi-part, and C_Digest may not finish it. */
	assert_int_equal(C_DigestInit(s, &m), CKR_OK);
	assert_int_equal(C_DigestUpdate(s, (CK_BYTE_PTR) "a", 1), CKR_OK);
	assert_int_equal(C_Digest(s, (CK_BYTE_PTR) "bc", 2, out, &n), CKR_OPERATION_ACTIVE);
	assert_int_equal(C_DigestUpdate(s, (CK_BYTE_PTR) "bc", 2), CKR_OK);
	n = sizeof(out);
	assert_int_equal(C_DigestFinal(s, out, &n), CKR_OK);
	assert_memory_equal(out, abc_sha256, 32);

	/* A bad mechanism leaves no operation behind. */
	m.mechanism = CKM_ECDSA;
	assert_int_equal(C_DigestInit(s, &m), CKR_MECHANISM_INVALID);
	m.mechanism = CKM_SHA256;
	assert_int_equal(C_DigestInit(s, &m), CKR_OK);
	assert_int_equal(C_CloseSession(s), CKR_OK);
}

/* /pkcs11/find-without-login */
static void test_find_without_login(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	CK_OBJECT_HANDLE objs[4];
	CK_ULONG n = 9;

	assert_int_equal(C_FindObjects(s, objs, 4, &n), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(C_FindObjectsInit(s, NULL, 0), CKR_OK);
	assert_int_equal(C_FindObjectsInit(s, NULL, 0), CKR_OPERATION_ACTIVE);
	assert_int_equal(C_FindObjects(s, objs, 4, &n), CKR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(C_CloseSession(s), CKR_OK);
}

/* /pkcs11/keygen-template-checks: refused before any network use. */
static void test_keygen_templates(void **state)
{
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_LABEL, "k", 1}};
	CK_ATTRIBUTE priv_extractable[] = {{CKA_EXTRACTABLE, &yes, sizeof(yes)}};
	CK_ATTRIBUTE priv_session[] = {{CKA_TOKEN, &no, sizeof(no)}};
	CK_ATTRIBUTE priv_unknown[] = {{CKA_VALUE, "x", 1}};
	CK_ATTRIBUTE pub_nolabel[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}};
	CK_ATTRIBUTE pub_badcurve[] = {{CKA_EC_PARAMS, "\x06\x01\x01", 3}, {CKA_LABEL, "k", 1}};
	CK_SESSION_HANDLE rw = open_session(CKF_SERIAL_SESSION | CKF_RW_SESSION);
	CK_SESSION_HANDLE ro = open_session(CKF_SERIAL_SESSION);
	CK_OBJECT_HANDLE a, b;

	assert_int_equal(C_GenerateKeyPair(rw, &m, pub, 2, priv_extractable, 1, &a, &b),
	                 CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(C_GenerateKeyPair(rw, &m, pub, 2, priv_session, 1, &a, &b),
	                 CKR_ATTRIBUTE_VALUE_INVALID);
	assert_int_equal(C_GenerateKeyPair(rw, &m, pub, 2, priv_unknown, 1, &a, &b),
	                 CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(C_GenerateKeyPair(rw, &m, pub_nolabel, 1, NULL, 0, &a, &b),
	                 CKR_TEMPLATE_INCOMPLETE);
	assert_int_equal(C_GenerateKeyPair(rw, &m, pub_badcurve, 2, NULL, 0, &a, &b),
	                 CKR_CURVE_NOT_SUPPORTED);
	assert_int_equal(C_GenerateKeyPair(ro, &m, pub, 2, NULL, 0, &a, &b), CKR_SESSION_READ_ONLY);
	assert_int_equal(C_GenerateKeyPair(rw, &m, pub, 2, NULL, 0, &a, &b),
	                 CKR_USER_NOT_LOGGED_IN);
	m.mechanism = CKM_AES_GCM;
	assert_int_equal(C_GenerateKeyPair(rw, &m, pub, 2, NULL, 0, &a, &b), CKR_MECHANISM_INVALID);
	assert_int_equal(C_CloseAllSessions(0), CKR_OK);
}

/* /pkcs11/refused-before-network: parameters and templates are checked
 * before anything is asked of the server. */
static void test_unsupported(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	CK_MECHANISM m = {CKM_ECDH1_DERIVE, NULL, 0};
	CK_OBJECT_CLASS key = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &key, sizeof(key)}};
	CK_OBJECT_HANDLE h;

	assert_int_equal(C_DeriveKey(s, &m, 1, NULL, 0, &h), CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(C_CreateObject(s, NULL, 0, &h), CKR_TEMPLATE_INCOMPLETE);
	/* Keys are made in keyward, never imported as values. */
	assert_int_equal(C_CreateObject(s, t, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID);
	m.mechanism = CKM_RSA_PKCS_OAEP;
	assert_int_equal(C_DecryptInit(s, &m, 1), CKR_KEY_HANDLE_INVALID);
	assert_int_equal(C_Decrypt(s, NULL, 0, NULL, &h), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(C_SeedRandom(s, (CK_BYTE_PTR) "x", 1), CKR_RANDOM_SEED_NOT_SUPPORTED);
	assert_int_equal(C_CloseSession(s), CKR_OK);
	assert_int_equal(C_DeriveKey(s, &m, 1, NULL, 0, &h), CKR_SESSION_HANDLE_INVALID);
}

/* A key object from a transit key-read reply with a fresh P-256 key. */
static struct p11_key *ec_key(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	struct p11_key *k = NULL;
	char *pem;
	long n;
	json_t *info;

	assert_non_null(pk);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
	n = BIO_get_mem_data(bio, &pem);
	info = json_pack("{s:s, s:i, s:{s:{s:s%}}}", "type", "ecdsa-p256", "latest_version", 1,
	                 "keys", "1", "public_key", pem, (size_t)n);
	assert_non_null(info);
	assert_int_equal(p11_key_from_info(0, "web", info, &k), 0);
	json_decref(info);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return k;
}

/* /pkcs11/attribute-templates */
static void test_attribute_templates(void **state)
{
	struct p11_key *k = ec_key();
	struct p11_object priv = {CKO_PRIVATE_KEY, k, NULL}, pub = {CKO_PUBLIC_KEY, k, NULL};
	CK_BBOOL sens = 0, extr = 1;
	CK_KEY_TYPE kt = 0;
	uint8_t label[2], point[80];
	CK_ATTRIBUTE t[] = {{CKA_SENSITIVE, &sens, sizeof(sens)},
	                    {CKA_EXTRACTABLE, &extr, sizeof(extr)},
	                    {CKA_KEY_TYPE, &kt, sizeof(kt)},
	                    {CKA_LABEL, label, sizeof(label)},
	                    {CKA_VALUE, NULL, 0},
	                    {CKA_EC_POINT, point, sizeof(point)}};
	CK_ATTRIBUTE q[] = {{CKA_EC_POINT, NULL, 0}};
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE match[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, "web", 3}};

	/* Every attribute is processed though some fail (v2.40 5.7). */
	assert_int_not_equal(p11_object_get_attrs(&priv, t, 6), CKR_OK);
	assert_int_equal(sens, CK_TRUE);
	assert_int_equal(extr, CK_FALSE);
	assert_int_equal(kt, CKK_EC);
	assert_int_equal(t[3].ulValueLen, CK_UNAVAILABLE_INFORMATION); /* "web" > 2 bytes */
	assert_int_equal(t[4].ulValueLen, CK_UNAVAILABLE_INFORMATION); /* sensitive */
	assert_int_equal(t[5].ulValueLen, CK_UNAVAILABLE_INFORMATION); /* not on a private key */
	t[4].ulValueLen = 0;
	assert_int_equal(p11_object_get_attrs(&priv, &t[4], 1), CKR_ATTRIBUTE_SENSITIVE);
	t[3].ulValueLen = sizeof(label);
	assert_int_equal(p11_object_get_attrs(&priv, &t[3], 1), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(p11_object_get_attrs(&priv, &t[5], 1), CKR_ATTRIBUTE_TYPE_INVALID);

	assert_int_equal(p11_object_get_attrs(&pub, q, 1), CKR_OK);
	assert_int_equal(q[0].ulValueLen, 67); /* 04 41 04 X Y */
	q[0].pValue = point;
	assert_int_equal(p11_object_get_attrs(&pub, q, 1), CKR_OK);
	assert_int_equal(point[0], 0x04);
	assert_int_equal(point[1], 65);
	assert_int_equal(point[2], 0x04);

	assert_true(p11_object_match(&priv, match, 2));
	assert_false(p11_object_match(&pub, match, 2));
	match[1].ulValueLen = 2;
	assert_false(p11_object_match(&priv, match, 2));
	p11_key_put(k);
}

/* A key object as the server's key read describes it, in the table of a
 * logged-in slot 0 (no server is asked). */
static CK_OBJECT_HANDLE add_key(json_t *info, const char *name, CK_OBJECT_HANDLE *pub)
{
	struct p11_key *k = NULL;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	assert_int_equal(p11_key_from_info(0, name, info, &k), 0);
	json_decref(info);
	assert_int_equal(p11_objects_add_key(k, &h, pub), CKR_OK);
	p11_key_put(k);
	p11_enter();
	p11->slots[0].logged_in = true;
	p11_leave();
	return h;
}

static CK_OBJECT_HANDLE aes_key(const char *name, bool exportable)
{
	return add_key(json_pack("{s:s, s:i, s:b, s:s}", "type", "aes256-gcm96", "latest_version",
	                         1, "exportable", exportable, "pkcs11_id", "0a0b"),
	               name, NULL);
}

static CK_OBJECT_HANDLE rsa_key(CK_OBJECT_HANDLE *pub)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long n;
	json_t *info;

	assert_non_null(pk);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
	n = BIO_get_mem_data(bio, &pem);
	info = json_pack("{s:s, s:i, s:{s:{s:s%}}}", "type", "rsa-2048", "latest_version", 1,
	                 "keys", "1", "public_key", pem, (size_t)n);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return add_key(info, "rsa", pub);
}

/* /pkcs11/gcm-tag-bounds: 96 to 128 bits in whole bytes (SP 800-38D). */
static void test_gcm_tag_bounds(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	CK_OBJECT_HANDLE k = aes_key("aes", false);
	uint8_t iv[12] = {0};
	CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 0};
	CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
	static const CK_ULONG bad[] = {0, 64, 88, 100, 136};

	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++) {
		gp.ulTagBits = bad[i];
		assert_int_equal(C_EncryptInit(s, &m, k), CKR_MECHANISM_PARAM_INVALID);
	}
	gp.ulTagBits = 128;
	gp.ulIvLen = 0;
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_MECHANISM_PARAM_INVALID);
	gp.ulIvLen = sizeof(iv);
	m.ulParameterLen = 3;
	assert_int_equal(C_DecryptInit(s, &m, k), CKR_MECHANISM_PARAM_INVALID);
	m.ulParameterLen = sizeof(gp);
	gp.ulTagBits = 96;
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_OK);
	assert_int_equal(C_CloseSession(s), CKR_OK);
}

/* /pkcs11/crypt-operation-state: a second init is CKR_OPERATION_ACTIVE, a
 * length query and a short buffer keep the operation, C_Encrypt cannot
 * finish a multi-part one, a failure ends it. */
static void test_crypt_operation_state(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	CK_OBJECT_HANDLE k = aes_key("aes", false);
	uint8_t iv[12] = {0}, data[40] = {0}, out[64];
	CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 128};
	CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
	CK_ULONG n = 0;

	assert_int_equal(C_EncryptInit(s, &m, k), CKR_OK);
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_OPERATION_ACTIVE);
	assert_int_equal(C_DecryptInit(s, &m, k), CKR_OPERATION_ACTIVE);
	assert_int_equal(C_Encrypt(s, data, 20, NULL, &n), CKR_OK);
	assert_int_equal(n, 20 + 16);
	n = 35;
	assert_int_equal(C_Encrypt(s, data, 20, out, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 36);
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_OPERATION_ACTIVE);   /* kept */
	assert_int_equal(C_EncryptFinal(s, out, NULL), CKR_ARGUMENTS_BAD); /* ends it */
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_OK);
	assert_int_equal(C_EncryptUpdate(s, data, 4, out, &n), CKR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(C_Encrypt(s, data, 4, out, &n), CKR_OPERATION_ACTIVE);
	n = 0;
	assert_int_equal(C_EncryptFinal(s, NULL, &n), CKR_OK);
	assert_int_equal(n, 4 + 16);
	assert_int_equal(C_EncryptFinal(s, out, NULL), CKR_ARGUMENTS_BAD); /* ends it */
	assert_int_equal(C_EncryptFinal(s, NULL, &n), CKR_OPERATION_NOT_INITIALIZED);

	/* Whole blocks for CBC; the failure ends the operation. */
	m = (CK_MECHANISM){CKM_AES_CBC, data, 16};
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_OK);
	assert_int_equal(C_Encrypt(s, data, 15, NULL, &n), CKR_DATA_LEN_RANGE);
	assert_int_equal(C_Encrypt(s, data, 16, NULL, &n), CKR_OPERATION_NOT_INITIALIZED);
	m.ulParameterLen = 15;
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(C_CloseSession(s), CKR_OK);
}

/* /pkcs11/ctr-counter-wrap: a low counter that would wrap is refused. */
static void test_ctr_counter_wrap(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	CK_OBJECT_HANDLE k = aes_key("aes", false);
	CK_AES_CTR_PARAMS cp = {8, {0}};
	CK_MECHANISM m = {CKM_AES_CTR, &cp, sizeof(cp)};
	uint8_t data[40] = {0};
	CK_ULONG n = 0;

	cp.cb[15] = 0xfe; /* two blocks left in an 8-bit counter */
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_OK);
	assert_int_equal(C_Encrypt(s, data, 32, NULL, &n), CKR_OK);
	assert_int_equal(n, 32);
	assert_int_equal(C_Encrypt(s, data, 33, NULL, &n), CKR_DATA_LEN_RANGE);
	cp.ulCounterBits = 129;
	assert_int_equal(C_EncryptInit(s, &m, k), CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(C_CloseSession(s), CKR_OK);
}

/* /pkcs11/decrypt-two-call: the length query needs no server; RSA gives
 * the modulus length as the bound; a bad ciphertext length ends it. */
static void test_decrypt_two_call(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = rsa_key(&pub);
	CK_OBJECT_HANDLE k = aes_key("aes", false);
	CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
	CK_MECHANISM m = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
	uint8_t iv[12] = {0}, ct[256] = {0}, out[300];
	CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 128};
	CK_ULONG n = 0;

	assert_int_equal(C_DecryptInit(s, &m, pub), CKR_KEY_FUNCTION_NOT_PERMITTED);
	op.mgf = 0x77;
	assert_int_equal(C_DecryptInit(s, &m, priv), CKR_MECHANISM_PARAM_INVALID);
	op.mgf = CKG_MGF1_SHA1; /* OAEP's default: taken */
	assert_int_equal(C_DecryptInit(s, &m, priv), CKR_OK);
	assert_int_equal(C_Decrypt(s, ct, sizeof(ct), NULL, &n), CKR_OK);
	assert_int_equal(n, 256);
	assert_int_equal(C_Decrypt(s, ct, 255, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE);
	assert_int_equal(C_Decrypt(s, ct, 256, out, &n), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(C_DecryptInit(s, &m, k), CKR_KEY_TYPE_INCONSISTENT);

	/* GCM: exactly the ciphertext less the tag, known before any request. */
	m = (CK_MECHANISM){CKM_AES_GCM, &gp, sizeof(gp)};
	assert_int_equal(C_DecryptInit(s, &m, k), CKR_OK);
	assert_int_equal(C_Decrypt(s, ct, 40, NULL, &n), CKR_OK);
	assert_int_equal(n, 24);
	n = 23;
	assert_int_equal(C_Decrypt(s, ct, 40, out, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 24);
	assert_int_equal(C_DecryptInit(s, &m, k), CKR_OPERATION_ACTIVE);
	assert_int_equal(C_Decrypt(s, ct, 15, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE);
	assert_int_equal(C_DecryptFinal(s, out, &n), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(C_CloseSession(s), CKR_OK);
}

/* /pkcs11/wrap-derive-copy-refusals */
static void test_wrap_derive_copy_refusals(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION | CKF_RW_SESSION);
	CK_OBJECT_HANDLE kek = aes_key("kek", true), k = aes_key("target", false), h;
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = rsa_key(&pub);
	CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	uint8_t point[65] = {0x04};
	CK_ECDH1_DERIVE_PARAMS dp = {CKD_NULL, 4, (CK_BYTE_PTR) "info", sizeof(point), point};
	CK_MECHANISM dm = {CKM_ECDH1_DERIVE, &dp, sizeof(dp)};
	CK_ULONG n = 0;

	assert_int_equal(C_WrapKey(s, &m, kek, k, NULL, &n), CKR_KEY_UNEXTRACTABLE);
	assert_int_equal(C_WrapKey(s, &m, kek, pub, NULL, &n), CKR_KEY_NOT_WRAPPABLE);
	assert_int_equal(C_WrapKey(s, &m, priv, kek, NULL, &n), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
	/* An exportable key: the length is known without a request. */
	assert_int_equal(C_WrapKey(s, &m, k, kek, NULL, &n), CKR_OK);
	assert_int_equal(n, 40);
	m.mechanism = CKM_AES_GCM;
	assert_int_equal(C_WrapKey(s, &m, kek, k, NULL, &n), CKR_MECHANISM_INVALID);
	/* CKD_NULL takes no shared data; RSA keys derive nothing. */
	assert_int_equal(C_DeriveKey(s, &dm, priv, NULL, 0, &h), CKR_MECHANISM_PARAM_INVALID);
	dp.ulSharedDataLen = 0;
	assert_int_equal(C_DeriveKey(s, &dm, priv, NULL, 0, &h), CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(C_CopyObject(s, k, NULL, 0, &h), CKR_ACTION_PROHIBITED);
	assert_int_equal(C_CopyObject(s, 99999, NULL, 0, &h), CKR_OBJECT_HANDLE_INVALID);
	assert_int_equal(C_CloseSession(s), CKR_OK);
}

/* /pkcs11/key-id-and-extractable: CKA_ID is the key's pkcs11_id. */
static void test_key_id_extractable(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	CK_OBJECT_HANDLE k = aes_key("exp", true), found[4];
	uint8_t id[8];
	CK_BBOOL extr = 0, never = 1;
	CK_ATTRIBUTE t[] = {{CKA_ID, id, sizeof(id)},
	                    {CKA_EXTRACTABLE, &extr, sizeof(extr)},
	                    {CKA_NEVER_EXTRACTABLE, &never, sizeof(never)}};
	CK_ATTRIBUTE by_id[] = {{CKA_ID, "\x0a\x0b", 2}};
	CK_ULONG n = 0;

	assert_int_equal(C_GetAttributeValue(s, k, t, 3), CKR_OK);
	assert_int_equal(t[0].ulValueLen, 2);
	assert_memory_equal(id, "\x0a\x0b", 2);
	assert_int_equal(extr, CK_TRUE);
	assert_int_equal(never, CK_FALSE);
	/* Found by its id (the login is faked: no refresh is attempted here). */
	p11_enter();
	p11->slots[0].logged_in = false;
	p11_leave();
	assert_int_equal(C_FindObjectsInit(s, by_id, 1), CKR_OK);
	assert_int_equal(C_FindObjects(s, found, 4, &n), CKR_OK);
	assert_int_equal(n, 0); /* a secret key is private: not before login */
	assert_int_equal(C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(C_CloseSession(s), CKR_OK);
}

/* /pkcs11/stored-certificate-attributes */
static void test_stored_object_attrs(void **state)
{
	json_t *data =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "class", "certificate", "key",
	              "web", "id", "0102", "label", "web cert", "value", "AAEC", "attributes",
	              "certificate_type", "x509", "subject", "3000", "serial_number", "020101");
	struct p11_object o = {CKO_CERTIFICATE, NULL, NULL};
	CK_CERTIFICATE_TYPE ct = 99;
	uint8_t id[4], subj[4], value[4];
	CK_ATTRIBUTE t[] = {{CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)},
	                    {CKA_ID, id, sizeof(id)},
	                    {CKA_SUBJECT, subj, sizeof(subj)},
	                    {CKA_VALUE, value, sizeof(value)}};
	CK_ATTRIBUTE bad[] = {{CKA_APPLICATION, NULL, 0}};

	assert_non_null(data);
	assert_int_equal(p11_sobj_from_json(0, "p11-x", data, &o.sobj), 0);
	assert_int_equal(p11_object_get_attrs(&o, t, 4), CKR_OK);
	assert_int_equal(ct, CKC_X_509);
	assert_int_equal(t[1].ulValueLen, 2);
	assert_memory_equal(id, "\x01\x02", 2);
	assert_int_equal(t[2].ulValueLen, 2);
	assert_memory_equal(value, "\x00\x01\x02", 3);
	assert_int_equal(p11_object_get_attrs(&o, bad, 1), CKR_ATTRIBUTE_TYPE_INVALID);
	json_object_set_new(data, "class", json_string("private-key"));
	p11_sobj_free(o.sobj);
	assert_int_not_equal(p11_sobj_from_json(0, "p11-x", data, &o.sobj), 0);
	json_decref(data);
}

/* /pkcs11/ecdsa-der-to-raw */
static void test_formats(void **state)
{
	/* SEQUENCE { INTEGER 0x00ff (positive, padded), INTEGER 1 } */
	static const uint8_t der[] = {0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01};
	uint8_t raw[8];

	assert_int_equal(p11_ecdsa_der_to_raw(der, sizeof(der), 4, raw), 0);
	assert_memory_equal(raw, "\x00\x00\x00\xff\x00\x00\x00\x01", 8);
	assert_int_not_equal(p11_ecdsa_der_to_raw(der, sizeof(der) - 1, 4, raw), 0);
}

/* /pkcs11/config-parse */
static void test_config_parse(void **state)
{
	struct p11_conf c = {0};

	assert_int_equal(
	    p11_conf_parse("# two servers\n[server]\nlabel = a\naddress = https://a:1\n"
	                   "[server]\nlabel=b # comment\ntoken_file = /t\n",
	                   &c),
	    0);
	assert_int_equal(c.nservers, 2);
	assert_string_equal(c.servers[0].label, "a");
	assert_string_equal(c.servers[0].address, "https://a:1");
	assert_string_equal(c.servers[1].label, "b");
	assert_true(p11_server_auto_login(&c.servers[1]));
	assert_false(p11_server_auto_login(&c.servers[0]));
	p11_conf_cleanup(&c);
	/* A token in the file itself is refused: files get copied around. */
	assert_int_equal(p11_conf_parse("token = secret\n", &c), KW_ERR_CONFIG);
	p11_conf_cleanup(&c);
	assert_int_equal(p11_conf_parse("label = 0123456789012345678901234567890123\n", &c),
	                 KW_ERR_CONFIG);
	p11_conf_cleanup(&c);
}

/* /pkcs11/config-kubernetes */
static void test_config_kubernetes(void **state)
{
	struct p11_conf c = {0};

	assert_int_equal(p11_conf_parse("kubernetes_role = payments\n", &c), 0);
	assert_string_equal(c.servers[0].k8s_role, "payments");
	assert_string_equal(c.servers[0].k8s_mount, P11_K8S_MOUNT);
	assert_string_equal(c.servers[0].sa_token_file, P11_SA_TOKEN_FILE);
	assert_true(p11_server_auto_login(&c.servers[0]));
	assert_string_equal(p11_auth_file(&c.servers[0]), P11_SA_TOKEN_FILE);
	p11_conf_cleanup(&c);
	assert_int_equal(p11_conf_parse("kubernetes_role = r\nkubernetes_mount = k8s-prod\n"
	                                "service_account_token_file = /t/sa\n",
	                                &c),
	                 0);
	assert_string_equal(c.servers[0].k8s_mount, "k8s-prod");
	assert_string_equal(c.servers[0].sa_token_file, "/t/sa");
	p11_conf_cleanup(&c);
	/* A mount is one path segment: it must not reach another path. */
	assert_int_equal(p11_conf_parse("kubernetes_role = r\nkubernetes_mount = a/../b\n", &c),
	                 KW_ERR_CONFIG);
	p11_conf_cleanup(&c);
}

/* /pkcs11/config-kubernetes-env */
static void test_config_kubernetes_env(void **state)
{
	struct p11_conf c = {0};

	unsetenv("KEYWARD_PKCS11_CONF");
	setenv("KEYWARD_KUBERNETES_ROLE", "from-env", 1);
	setenv("KEYWARD_SERVICE_ACCOUNT_TOKEN_FILE", "/env/sa", 1);
	assert_int_equal(p11_conf_load(&c), 0);
	unsetenv("KEYWARD_KUBERNETES_ROLE");
	unsetenv("KEYWARD_SERVICE_ACCOUNT_TOKEN_FILE");
	assert_string_equal(c.servers[0].k8s_role, "from-env");
	assert_string_equal(c.servers[0].k8s_mount, P11_K8S_MOUNT);
	assert_string_equal(c.servers[0].sa_token_file, "/env/sa");
	p11_conf_cleanup(&c);
}

static void write_file(const char *path, const char *text)
{
	char tmp[512];
	FILE *f;

	/* As kubelet does: a new file swapped in. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	assert_non_null(f = fopen(tmp, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/* /pkcs11/auth-file-rotation */
static void test_auth_file_rotation(void **state)
{
	char dir[] = "/tmp/kw-p11-unit-XXXXXX";
	char path[256];
	struct p11_server srv = {0};
	struct p11_login l = {0};
	struct p11_stamp before;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	write_file(path, "kws.first\n");
	srv.token_file = path;
	assert_int_equal(p11_auth_login(NULL, &srv, &l), CKR_OK);
	assert_string_equal(l.token, "kws.first"); /* newline cut */
	assert_true(l.stamp.set);
	assert_false(p11_auth_file_changed(path, &l.stamp));
	/* Replaced with the same bytes: not a rotation, but the new stamp is
	 * kept so the file is not read again. */
	before = l.stamp;
	write_file(path, "kws.first\n");
	assert_false(p11_auth_file_changed(path, &l.stamp));
	assert_true(l.stamp.ino != before.ino || l.stamp.mtime.tv_nsec != before.mtime.tv_nsec ||
	            l.stamp.mtime.tv_sec != before.mtime.tv_sec);
	write_file(path, "kws.second\n");
	assert_true(p11_auth_file_changed(path, &l.stamp));
	/* A file gone is no reason to drop a login that works. */
	assert_int_equal(unlink(path), 0);
	assert_false(p11_auth_file_changed(path, &l.stamp));
	p11_login_cleanup(&l);
	assert_null(l.token);
	assert_int_equal(rmdir(dir), 0);
}

/* /pkcs11/auth-kubernetes-no-file */
static void test_auth_k8s_no_file(void **state)
{
	struct p11_server srv = {
	    .k8s_role = "r", .k8s_mount = "kubernetes", .sa_token_file = "/nonexistent/sa-token"};
	struct p11_login l = {0};

	/* Refused before any request: the base client is never used. */
	assert_int_equal(p11_auth_login(NULL, &srv, &l), CKR_DEVICE_ERROR);
	assert_null(l.token);
}

/* /pkcs11/login-protected-path */
static void test_login_protected_path(void **state)
{
	CK_TOKEN_INFO ti;
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE h;

	/* No automatic login configured: an empty PIN is simply wrong. */
	unsetenv("KEYWARD_PKCS11_CONF");
	assert_int_equal(C_Initialize(NULL), CKR_OK);
	assert_int_equal(C_GetTokenInfo(0, &ti), CKR_OK);
	assert_false(ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH);
	h = open_session(CKF_SERIAL_SESSION);
	assert_int_equal(C_Login(h, CKU_USER, NULL, 0), CKR_PIN_INCORRECT);
	assert_int_equal(C_Finalize(NULL), CKR_OK);

	setenv("KEYWARD_KUBERNETES_ROLE", "payments", 1);
	setenv("KEYWARD_SERVICE_ACCOUNT_TOKEN_FILE", "/nonexistent/sa-token", 1);
	assert_int_equal(C_Initialize(NULL), CKR_OK);
	unsetenv("KEYWARD_KUBERNETES_ROLE");
	unsetenv("KEYWARD_SERVICE_ACCOUNT_TOKEN_FILE");
	assert_int_equal(C_GetTokenInfo(0, &ti), CKR_OK);
	assert_true(ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH);
	h = open_session(CKF_SERIAL_SESSION);
	/* The service-account token is missing: a device error, still
	 * logged out. */
	assert_int_equal(C_Login(h, CKU_USER, NULL, 0), CKR_DEVICE_ERROR);
	assert_int_equal(C_GetSessionInfo(h, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(C_Finalize(NULL), CKR_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lifecycle),
	    cmocka_unit_test(test_caller_mutexes),
	    cmocka_unit_test_setup_teardown(test_slot_list_two_call, init, fini),
	    cmocka_unit_test_setup_teardown(test_mechanisms, init, fini),
	    cmocka_unit_test(test_interfaces),
	    cmocka_unit_test_setup_teardown(test_session_states, init, fini),
	    cmocka_unit_test_setup_teardown(test_digest_two_call, init, fini),
	    cmocka_unit_test_setup_teardown(test_find_without_login, init, fini),
	    cmocka_unit_test_setup_teardown(test_keygen_templates, init, fini),
	    cmocka_unit_test_setup_teardown(test_unsupported, init, fini),
	    cmocka_unit_test(test_attribute_templates),
	    cmocka_unit_test_setup_teardown(test_gcm_tag_bounds, init, fini),
	    cmocka_unit_test_setup_teardown(test_crypt_operation_state, init, fini),
	    cmocka_unit_test_setup_teardown(test_ctr_counter_wrap, init, fini),
	    cmocka_unit_test_setup_teardown(test_decrypt_two_call, init, fini),
	    cmocka_unit_test_setup_teardown(test_wrap_derive_copy_refusals, init, fini),
	    cmocka_unit_test_setup_teardown(test_key_id_extractable, init, fini),
	    cmocka_unit_test(test_stored_object_attrs),
	    cmocka_unit_test(test_formats),
	    cmocka_unit_test(test_config_parse),
	    cmocka_unit_test(test_config_kubernetes),
	    cmocka_unit_test(test_config_kubernetes_env),
	    cmocka_unit_test(test_auth_file_rotation),
	    cmocka_unit_test(test_auth_k8s_no_file),
	    cmocka_unit_test(test_login_protected_path),
	};

	return cmocka_run_group_tests_name("pkcs11", tests, setup, NULL);
}
