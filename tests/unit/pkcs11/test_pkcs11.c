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
	/* Phase 2 mechanisms are not claimed. */
	assert_int_equal(C_GetMechanismInfo(0, CKM_AES_GCM, &info), CKR_MECHANISM_INVALID);
	assert_int_equal(C_GetMechanismInfo(0, CKM_ECDH1_DERIVE, &info), CKR_MECHANISM_INVALID);
	assert_int_equal(C_GetMechanismInfo(0, CKM_RSA_PKCS_OAEP, &info), CKR_OK);
	assert_false(info.flags & CKF_DECRYPT);
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

/* /pkcs11/unsupported-honest */
static void test_unsupported(void **state)
{
	CK_SESSION_HANDLE s = open_session(CKF_SERIAL_SESSION);
	CK_MECHANISM m = {CKM_ECDH1_DERIVE, NULL, 0};
	CK_OBJECT_HANDLE h;

	assert_int_equal(C_DeriveKey(s, &m, 1, NULL, 0, &h), CKR_MECHANISM_INVALID);
	assert_int_equal(C_CreateObject(s, NULL, 0, &h), CKR_FUNCTION_NOT_SUPPORTED);
	m.mechanism = CKM_RSA_PKCS_OAEP;
	assert_int_equal(C_DecryptInit(s, &m, 1), CKR_MECHANISM_INVALID);
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
	struct p11_object priv = {CKO_PRIVATE_KEY, k}, pub = {CKO_PUBLIC_KEY, k};
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

/* /pkcs11/ecdsa-der-to-raw and /pkcs11/digestinfo */
static void test_formats(void **state)
{
	/* SEQUENCE { INTEGER 0x00ff (positive, padded), INTEGER 1 } */
	static const uint8_t der[] = {0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01};
	uint8_t raw[8], di[19 + 32] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	                               0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
	const char *hash = NULL;
	size_t off = 0;

	assert_int_equal(p11_ecdsa_der_to_raw(der, sizeof(der), 4, raw), 0);
	assert_memory_equal(raw, "\x00\x00\x00\xff\x00\x00\x00\x01", 8);
	assert_int_not_equal(p11_ecdsa_der_to_raw(der, sizeof(der) - 1, 4, raw), 0);
	assert_int_equal(p11_digestinfo_parse(di, sizeof(di), &hash, &off), 0);
	assert_string_equal(hash, "sha2-256");
	assert_int_equal(off, 19);
	assert_int_not_equal(p11_digestinfo_parse(di, sizeof(di) - 1, &hash, &off), 0);
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
