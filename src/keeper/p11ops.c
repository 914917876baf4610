/*
 * p11ops.c: the operations PKCS#11 needs that Vault's transit lacks, under
 * the canonical paths keyward/<op>/<name> — raw RSA PKCS#1 v1.5 signing of
 * a DigestInfo, RSA decryption (OAEP, PKCS#1 v1.5), ECDH derivation into a
 * new key, AES in the PKCS#11 modes, key wrap and unwrap — and the store of
 * public PKCS#11 objects (certificates, data) kept next to keys.
 *
 * As in ops.c, every handler authorizes the caller on the canonical path
 * and checks the key's type and the input's shape before the key is
 * touched. Derived and unwrapped material never leaves: it becomes a new
 * key, wrapped under the root key like a generated one. Secret temporaries
 * are wiped before they are freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keeper_int.h"

#define P11_OBJECT_FORMAT     1
#define P11_OBJECT_VALUE_MAX  (64 * 1024)
#define P11_OBJECT_LABEL_MAX  1024
#define P11_OBJECT_ATTRS_MAX  (16 * 1024)
#define P11_GCM_IV_BYTES      12 /* generated when the caller gives none */
#define P11_GCM_TAG_BITS_MIN  96
#define P11_GCM_TAG_BITS_MAX  128
#define P11_DERIVE_HMAC_BYTES 32 /* an hmac key derived without key_size */
#define P11_PATH_MAX          (2 * KW_NAME_MAX + 64)

/* ---- common steps ---- */

static const char *type_name(const struct keeper_key *kk)
{
	return kw_key_type_name((enum kw_key_type)kk->meta.type);
}

/* "keyward/<op>/<name>[/<sub>]" for update. */
static int p11_authorize(struct kreq *r, const char *op, const char *sub)
{
	char path[P11_PATH_MAX];
	int s;

	if ((s = kreq_need_name(r)) != 0)
		return s;
	snprintf(path, sizeof(path), "keyward/%s/%s%s%s", op, r->name, sub ? "/" : "",
	         sub ? sub : "");
	return keeper_authorize(r, path, CAP_UPDATE);
}

/* The audit entry names the operation's own path, after any extra checks. */
static void p11_path_reset(struct kreq *r, const char *op)
{
	snprintf(r->path, sizeof(r->path), "keyward/%s/%s", op, r->name);
}

static int need_type(struct kreq *r, const struct keeper_key *kk, bool ok, const char *what)
{
	if (!ok)
		return kreq_fail(r, KW_ERR_KEY_TYPE, "key '%s' of type %s cannot %s", r->name,
		                 type_name(kk), what);
	return 0;
}

static bool is_aes(enum kw_key_type t)
{
	return t == KW_KEY_AES128_GCM96 || t == KW_KEY_AES256_GCM96;
}

/* VERSION (0 or absent = latest). Writes (sign, encrypt, wrap, derive) may
 * not go below min_encryption_version; reads not below min_decryption. */
static int p11_version(struct kreq *r, const struct keeper_key *kk, bool write,
                       const struct keeper_version **out)
{
	uint32_t want = kw_ipc_u32_or(r->msg, KW_T_VERSION, 0);
	const struct keeper_version *v;

	if (want == 0)
		want = kk->meta.latest_version;
	if (write && kk->meta.min_encryption_version != 0 && want < kk->meta.min_encryption_version)
		return kreq_fail(r, KW_ERR_VERSION,
		                 "key '%s' version %u is below its min_encryption_version %u",
		                 r->name, want, kk->meta.min_encryption_version);
	if (!write && want < kk->meta.min_decryption_version)
		return kreq_fail(r, KW_ERR_VERSION,
		                 "key '%s' version %u is below its min_decryption_version %u",
		                 r->name, want, kk->meta.min_decryption_version);
	if ((v = keeper_key_version(kk, want)) == NULL)
		return kreq_fail(r, KW_ERR_VERSION, "key '%s' has no version %u", r->name, want);
	*out = v;
	return 0;
}

static int put_result(struct kreq *r, uint16_t tag, const uint8_t *p, size_t n, uint32_t version)
{
	if (kw_ipc_put(r->reply, tag, p, n) != 0 ||
	    kw_ipc_put_u32(r->reply, KW_T_VERSION, version) != 0)
		return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	return 0;
}

static void plain_free(uint8_t *p, size_t len)
{
	if (p != NULL)
		kw_wipe(p, len);
	free(p);
}

/* ---- sign-raw ---- */

/*
 * Only a DigestInfo is signed by default: the keeper is not a raw PKCS#1
 * oracle for arbitrary bytes. Other input (TLS 1.0's MD5+SHA-1, an
 * application's own encoding) needs the extra policy path .../any.
 */
static int sign_raw_input(struct kreq *r, const uint8_t **in, size_t *inlen)
{
	int s;

	if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, in, inlen) != 0 || *inlen == 0)
		return kreq_fail(r, KW_ERR_INVALID, "input is required");
	if (kw_rsa_digestinfo_check(*in, *inlen, NULL))
		return 0;
	if ((s = p11_authorize(r, "sign-raw", "any")) != 0)
		return s;
	p11_path_reset(r, "sign-raw");
	return 0;
}

int keeper_answer_p11_sign_raw(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	const uint8_t *in;
	size_t inlen, siglen = 0;
	uint8_t *sig = NULL;
	int s;

	if ((s = p11_authorize(r, "sign-raw", NULL)) != 0 || (s = keeper_key_get(r, &kk)) != 0 ||
	    (s = need_type(r, kk, kw_key_type_is_rsa((enum kw_key_type)kk->meta.type),
	                   "sign raw PKCS#1 v1.5 (RSA keys only)")) != 0 ||
	    (s = p11_version(r, kk, true, &v)) != 0 || (s = sign_raw_input(r, &in, &inlen)) != 0)
		return s;
	if ((s = kw_rsa_sign_pkcs1_raw(v->key, in, inlen, &sig, &siglen)) != 0)
		return kreq_fail(r, s,
		                 s == KW_ERR_INVALID
		                     ? "input is too long for the modulus of key '%s'"
		                     : "signing with key '%s' failed",
		                 r->name);
	s = put_result(r, KW_T_SIGNATURE, sig, siglen, v->version);
	free(sig);
	return s;
}

/* ---- RSA decrypt ---- */

static int hash_param(struct kreq *r, uint16_t tag, enum kw_hash def, enum kw_hash *out)
{
	const char *name = kw_ipc_str_or(r->msg, tag, NULL);

	if (name == NULL) {
		*out = def;
		return 0;
	}
	if (kw_hash_from_name(name, out) != 0 || *out == KW_HASH_NONE)
		return kreq_fail(r, KW_ERR_UNSUPPORTED, "unknown hash '%.40s'", name);
	return 0;
}

static int decrypt_params(struct kreq *r, struct kw_rsa_dec_params *p)
{
	const char *pad = kw_ipc_str_or(r->msg, KW_T_PADDING, "");
	bool has_oaep_fields = kw_ipc_find(r->msg, KW_T_HASH) ||
	                       kw_ipc_find(r->msg, KW_T_MGF_HASH) ||
	                       kw_ipc_find(r->msg, KW_T_LABEL);
	int s;

	memset(p, 0, sizeof(*p));
	if (strcmp(pad, "pkcs1v15") == 0) {
		if (has_oaep_fields)
			return kreq_fail(r, KW_ERR_INVALID,
			                 "hash, mgf_hash and label apply to oaep padding only");
		p->padding = KW_RSA_DEC_PKCS1V15;
		return 0;
	}
	if (strcmp(pad, "oaep") != 0)
		return kreq_fail(r, KW_ERR_INVALID, "padding must be oaep or pkcs1v15");
	p->padding = KW_RSA_DEC_OAEP;
	if ((s = hash_param(r, KW_T_HASH, KW_HASH_SHA256, &p->hash)) != 0 ||
	    (s = hash_param(r, KW_T_MGF_HASH, p->hash, &p->mgf1_hash)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_LABEL, &p->label, &p->labellen) != 0)
		p->labellen = 0;
	if (p->labellen > KW_OAEP_LABEL_MAX)
		return kreq_fail(r, KW_ERR_INVALID, "label is at most %d bytes", KW_OAEP_LABEL_MAX);
	return 0;
}

int keeper_answer_p11_decrypt(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	struct kw_rsa_dec_params p;
	const uint8_t *ct;
	size_t ctlen, ptlen = 0;
	uint8_t *pt = NULL;
	int s;

	if ((s = p11_authorize(r, "decrypt", NULL)) != 0 || (s = keeper_key_get(r, &kk)) != 0 ||
	    (s = need_type(r, kk, kw_key_type_is_rsa((enum kw_key_type)kk->meta.type),
	                   "decrypt with RSA padding (RSA keys only)")) != 0 ||
	    (s = p11_version(r, kk, false, &v)) != 0 || (s = decrypt_params(r, &p)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_CIPHERTEXT, &ct, &ctlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "ciphertext is required");
	/* One sentence for every failure: no padding oracle in the errors. */
	if ((s = kw_rsa_decrypt(v->key, &p, ct, ctlen, &pt, &ptlen)) != 0)
		return kreq_fail(r, s == KW_ERR_UNSUPPORTED ? s : KW_ERR_DECRYPT,
		                 "the ciphertext cannot be decrypted with key '%s' version %u",
		                 r->name, v->version);
	s = put_result(r, KW_T_PLAINTEXT, pt, ptlen, v->version);
	plain_free(pt, ptlen);
	return s;
}

/* ---- new keys from derived or unwrapped material ---- */

/* What a derive or unwrap creates: name, type, flags, CKA_ID. */
static int new_key_params(struct kreq *r, bool any_type, struct kw_store_key *m)
{
	const char *dn = kw_ipc_str_or(r->msg, KW_T_DERIVED_NAME, NULL);
	const char *tn = kw_ipc_str_or(r->msg, KW_T_KEY_TYPE, NULL);
	enum kw_key_type t;
	size_t n;

	memset(m, 0, sizeof(*m));
	if (dn == NULL || (n = strlen(dn)) == 0 || n > KW_NAME_MAX ||
	    strspn(dn, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return kreq_fail(r, KW_ERR_INVALID,
		                 "derived_name must be 1 to %d characters of letters, digits, '.', "
		                 "'_' and '-'",
		                 KW_NAME_MAX);
	if (tn == NULL || kw_key_type_from_name(tn, &t) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "derived_type must name a key type");
	if (!any_type && !is_aes(t) && t != KW_KEY_HMAC)
		return kreq_fail(r, KW_ERR_UNSUPPORTED,
		                 "derived_type must be aes256-gcm96, aes128-gcm96 or hmac");
	memcpy(m->name, dn, n + 1);
	m->type = (int)t;
	m->latest_version = 1;
	m->min_decryption_version = 1;
	m->min_available_version = 1;
	m->created = kw_now();
	return keeper_pkcs11_id_param(r, m);
}

/* Both checks before any key is touched: the derived name's create first,
 * so the audit entry ends on the operation's own path. */
static int new_key_authorize(struct kreq *r, const char *op, const struct kw_store_key *m)
{
	char path[P11_PATH_MAX];
	int s;

	snprintf(path, sizeof(path), "transit/keys/%s", m->name);
	if ((s = keeper_authorize(r, path, CAP_CREATE)) != 0)
		return s;
	return p11_authorize(r, op, NULL);
}

/* Store key as m (write lock taken here), then add VERSION of the source. */
static int new_key_store(struct kreq *r, struct kw_store_key *m, struct kw_key **key,
                         uint32_t version)
{
	int s;

	pthread_rwlock_wrlock(&r->k->lock);
	s = keeper_check_unsealed(r);
	if (s == 0)
		s = keeper_key_adopt(r, m, key);
	pthread_rwlock_unlock(&r->k->lock);
	kw_key_free(*key);
	*key = NULL;
	if (s == 0) {
		kw_info("req=%s: key '%s' (%s) made from key '%s' by %s", r->req_id, m->name,
		        kw_key_type_name((enum kw_key_type)m->type), r->name,
		        kw_msg_name(r->msg->type));
		if (kw_ipc_put_u32(r->reply, KW_T_VERSION, version) != 0)
			s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	}
	return s;
}

/* ---- ECDH derive ---- */

/* The new key's length: fixed for AES, KEY_SIZE (or 32) for hmac. */
static int derive_len(struct kreq *r, enum kw_key_type t, size_t *len)
{
	uint32_t ks = kw_ipc_u32_or(r->msg, KW_T_KEY_SIZE, 0);

	if (t != KW_KEY_HMAC) {
		if (ks != 0)
			return kreq_fail(r, KW_ERR_INVALID, "key_size applies only to hmac keys");
		*len = t == KW_KEY_AES128_GCM96 ? 16 : 32;
		return 0;
	}
	if (ks == 0)
		ks = P11_DERIVE_HMAC_BYTES;
	if (ks < KW_HMAC_KEY_MIN_BYTES || ks > KW_HMAC_KEY_MAX_BYTES)
		return kreq_fail(r, KW_ERR_INVALID, "key_size must be %d to %d bytes",
		                 KW_HMAC_KEY_MIN_BYTES, KW_HMAC_KEY_MAX_BYTES);
	*len = ks;
	return 0;
}

/* z -> key bytes: "null" takes the leading bytes of the shared secret
 * (PKCS#11 CKD_NULL); "sha*" runs the X9.63 KDF (CKD_SHA*_KDF). */
static int derive_kdf(struct kreq *r, const uint8_t *z, size_t zlen, uint8_t *out, size_t len)
{
	const char *kdf = kw_ipc_str_or(r->msg, KW_T_KDF, "null");
	const uint8_t *info = NULL;
	size_t infolen = 0;
	enum kw_hash h;

	if (kw_ipc_get_bytes(r->msg, KW_T_SHARED_INFO, &info, &infolen) != 0)
		infolen = 0;
	if (strcmp(kdf, "null") == 0) {
		if (infolen > 0)
			return kreq_fail(r, KW_ERR_INVALID, "shared_info needs a kdf");
		if (zlen < len)
			return kreq_fail(r, KW_ERR_INVALID,
			                 "the shared secret has %zu bytes, fewer than the %zu the "
			                 "new key needs; use a kdf",
			                 zlen, len);
		memcpy(out, z, len);
		return 0;
	}
	if (kw_hash_from_name(kdf, &h) != 0 ||
	    !(h == KW_HASH_SHA1 || h == KW_HASH_SHA224 || h == KW_HASH_SHA256 ||
	      h == KW_HASH_SHA384 || h == KW_HASH_SHA512))
		return kreq_fail(r, KW_ERR_UNSUPPORTED,
		                 "kdf must be null, sha1, sha224, sha256, sha384 or sha512");
	if (kw_x963_kdf(h, z, zlen, info, infolen, out, len) != 0)
		return kreq_fail(r, KW_ERR_CRYPTO, "the key derivation failed");
	return 0;
}

/* ECDH with version v of the request's key, then the KDF, into a key. */
static int derive_material(struct kreq *r, const struct keeper_version *v, enum kw_key_type t,
                           struct kw_key **out)
{
	const uint8_t *peer;
	uint8_t *z = NULL, *kb = NULL;
	size_t peerlen, zlen = 0, len = 0;
	int s;

	if ((s = derive_len(r, t, &len)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, &peer, &peerlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "peer_public_key is required");
	if ((s = kw_ecdh_derive(v->key, peer, peerlen, &z, &zlen)) != 0)
		return kreq_fail(
		    r, s == KW_ERR_INVALID ? s : KW_ERR_CRYPTO,
		    s == KW_ERR_INVALID
		        ? "peer_public_key is not a valid point on the curve of key '%s'"
		        : "key agreement with key '%s' failed",
		    r->name);
	if ((kb = kw_secure_alloc(len)) == NULL) {
		s = kreq_fail(r, KW_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((s = derive_kdf(r, z, zlen, kb, len)) != 0)
		goto out;
	if ((s = kw_key_decode(t, kb, len, out)) != 0)
		s = kreq_fail(r, s, "the derived bytes do not make a %s key", kw_key_type_name(t));
out:
	kw_secure_free(z, zlen);
	kw_secure_free(kb, len);
	return s;
}

/* Under the read lock: check, authorize, agree. */
static int derive_prepare(struct kreq *r, struct kw_store_key *m, struct kw_key **key,
                          uint32_t *version)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	int s;

	if ((s = keeper_check_unsealed(r)) != 0 || (s = kreq_need_name(r)) != 0 ||
	    (s = new_key_params(r, false, m)) != 0 ||
	    (s = new_key_authorize(r, "derive", m)) != 0 || (s = keeper_key_get(r, &kk)) != 0 ||
	    (s = need_type(r, kk, kw_key_type_is_ecdsa((enum kw_key_type)kk->meta.type),
	                   "derive with ECDH (ecdsa-p256/p384/p521 keys only)")) != 0 ||
	    (s = p11_version(r, kk, true, &v)) != 0)
		return s;
	m->exportable = kw_ipc_u32_or(r->msg, KW_T_EXPORTABLE, 0) != 0;
	*version = v->version;
	return derive_material(r, v, (enum kw_key_type)m->type, key);
}

int keeper_answer_p11_derive(struct kreq *r)
{
	struct kw_store_key m;
	struct kw_key *key = NULL;
	uint32_t version = 0;
	int s;

	pthread_rwlock_rdlock(&r->k->lock);
	s = derive_prepare(r, &m, &key, &version);
	pthread_rwlock_unlock(&r->k->lock);
	if (s != 0)
		return s;
	return new_key_store(r, &m, &key, version);
}

/* ---- AES modes ---- */

struct cipher_req {
	bool encrypt;
	bool gcm;
	enum kw_aes_mode mode;
	const uint8_t *iv, *aad, *in;
	size_t ivlen, aadlen, inlen, taglen;
};

static int cipher_mode(struct kreq *r, struct cipher_req *c)
{
	static const struct {
		const char *name;
		enum kw_aes_mode mode;
	} modes[] = {{"cbc", KW_AES_CBC},
	             {"cbc-pad", KW_AES_CBC_PAD},
	             {"ctr", KW_AES_CTR},
	             {"ecb", KW_AES_ECB}};
	const char *mode = kw_ipc_str_or(r->msg, KW_T_MODE, "");

	if (strcmp(mode, "gcm") == 0) {
		c->gcm = true;
		return 0;
	}
	for (size_t i = 0; i < KW_ARRAY_LEN(modes); i++) {
		if (strcmp(mode, modes[i].name) == 0) {
			c->mode = modes[i].mode;
			return 0;
		}
	}
	return kreq_fail(r, KW_ERR_INVALID, "mode must be gcm, cbc, cbc-pad, ctr or ecb");
}

static int cipher_fields(struct kreq *r, struct cipher_req *c)
{
	const char *op = kw_ipc_str_or(r->msg, KW_T_OPERATION, "");
	uint32_t bits = kw_ipc_u32_or(r->msg, KW_T_TAG_BITS, P11_GCM_TAG_BITS_MAX);

	if (strcmp(op, "encrypt") != 0 && strcmp(op, "decrypt") != 0)
		return kreq_fail(r, KW_ERR_INVALID, "operation must be encrypt or decrypt");
	c->encrypt = op[0] == 'e';
	if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, &c->in, &c->inlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "input is required");
	if (kw_ipc_get_bytes(r->msg, KW_T_IV, &c->iv, &c->ivlen) != 0)
		c->iv = NULL;
	if (kw_ipc_get_bytes(r->msg, KW_T_AAD, &c->aad, &c->aadlen) != 0)
		c->aadlen = 0;
	if (!c->gcm) {
		if (c->aadlen != 0 || kw_ipc_find(r->msg, KW_T_TAG_BITS) != NULL)
			return kreq_fail(r, KW_ERR_INVALID, "aad and tag_bits apply to gcm only");
		if (c->mode == KW_AES_ECB ? c->iv != NULL
		                          : c->iv == NULL || c->ivlen != KW_AES_BLOCK_BYTES)
			return kreq_fail(r, KW_ERR_INVALID,
			                 c->mode == KW_AES_ECB ? "ecb takes no iv"
			                                       : "iv must be 16 bytes");
		return 0;
	}
	if (bits < P11_GCM_TAG_BITS_MIN || bits > P11_GCM_TAG_BITS_MAX || bits % 8 != 0)
		return kreq_fail(r, KW_ERR_INVALID, "tag_bits must be 96, 104, 112, 120 or 128");
	c->taglen = bits / 8;
	if (c->iv == NULL && !c->encrypt)
		return kreq_fail(r, KW_ERR_INVALID, "iv is required to decrypt");
	if (c->iv != NULL && (c->ivlen == 0 || c->ivlen > KW_AES_BLOCK_BYTES * 8))
		return kreq_fail(r, KW_ERR_INVALID, "iv must be 1 to %d bytes",
		                 KW_AES_BLOCK_BYTES * 8);
	if (!c->encrypt && c->inlen < c->taglen)
		return kreq_fail(r, KW_ERR_DECRYPT, "the input is shorter than its tag");
	return 0;
}

/* GCM: encrypt gives ciphertext || tag (PKCS#11's layout), decrypt takes it. */
static int cipher_gcm(struct kreq *r, const struct keeper_key *kk, const uint8_t *key,
                      size_t keylen, struct cipher_req *c, uint8_t *out, size_t *outlen)
{
	enum kw_key_type t = (enum kw_key_type)kk->meta.type;
	uint8_t iv[P11_GCM_IV_BYTES];
	size_t n = c->encrypt ? c->inlen : c->inlen - c->taglen;
	int s;

	if (c->encrypt && c->iv == NULL) {
		/* No IV given: a fresh random one, returned, so it is never reused. */
		if (kw_random(iv, sizeof(iv)) != 0)
			return kreq_fail(r, KW_ERR_CRYPTO, "the random generator failed");
		if (kw_ipc_put(r->reply, KW_T_IV, iv, sizeof(iv)) != 0)
			return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
		c->iv = iv;
		c->ivlen = sizeof(iv);
	}
	if (c->encrypt)
		s = kw_aead_seal_raw(t, key, keylen, c->iv, c->ivlen, c->aad, c->aadlen, c->in, n,
		                     out, out + n, c->taglen);
	else
		s = kw_aead_open_raw(t, key, keylen, c->iv, c->ivlen, c->aad, c->aadlen, c->in, n,
		                     c->in + n, c->taglen, out);
	if (s != 0)
		return kreq_fail(r, c->encrypt ? s : KW_ERR_DECRYPT,
		                 c->encrypt ? "encryption with key '%s' failed"
		                            : "the input cannot be decrypted with key '%s'",
		                 r->name);
	*outlen = c->encrypt ? n + c->taglen : n;
	return 0;
}

static int cipher_run(struct kreq *r, const struct keeper_key *kk, const struct keeper_version *v,
                      struct cipher_req *c)
{
	const uint8_t *key;
	size_t keylen, cap = c->inlen + KW_AES_BLOCK_BYTES + KW_AEAD_TAG_BYTES, outlen = 0;
	uint8_t *out;
	int s;

	if (kw_key_raw(v->key, &key, &keylen) != 0)
		return kreq_fail(r, KW_ERR_KEY_TYPE, "key '%s' has no AES material", r->name);
	if ((out = malloc(cap)) == NULL)
		return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
	if (c->gcm) {
		s = cipher_gcm(r, kk, key, keylen, c, out, &outlen);
	} else {
		s = kw_aes_cipher(c->mode, c->encrypt, key, keylen, c->iv, c->ivlen, c->in,
		                  c->inlen, out, &outlen);
		if (s == KW_ERR_DECRYPT)
			s = kreq_fail(r, s, "the input cannot be decrypted with key '%s'", r->name);
		else if (s != 0)
			s = kreq_fail(r, s,
			              "the input length does not suit this mode (cbc and ecb need "
			              "whole 16-byte blocks)");
	}
	if (s == 0)
		s = put_result(r, KW_T_OUTPUT, out, outlen, v->version);
	plain_free(out, cap);
	return s;
}

int keeper_answer_p11_cipher(struct kreq *r)
{
	struct cipher_req c = {0};
	struct keeper_key *kk;
	const struct keeper_version *v;
	int s;

	if ((s = p11_authorize(r, "cipher", NULL)) != 0 || (s = cipher_mode(r, &c)) != 0)
		return s;
	/* ECB leaks equal blocks; it is a separate grant so policies can keep
	 * it off (key check values, legacy wrapping only). */
	if (!c.gcm && c.mode == KW_AES_ECB) {
		if ((s = p11_authorize(r, "cipher", "ecb")) != 0)
			return s;
		p11_path_reset(r, "cipher");
	}
	if ((s = keeper_key_get(r, &kk)) != 0 ||
	    (s = need_type(r, kk, is_aes((enum kw_key_type)kk->meta.type),
	                   "run AES modes (aes128-gcm96 and aes256-gcm96 keys only)")) != 0 ||
	    (s = cipher_fields(r, &c)) != 0 || (s = p11_version(r, kk, c.encrypt, &v)) != 0)
		return s;
	return cipher_run(r, kk, v, &c);
}

/* ---- key wrap ---- */

static int wrap_mode(struct kreq *r, bool *pad)
{
	const char *mode = kw_ipc_str_or(r->msg, KW_T_MODE, "kwp");

	if (strcmp(mode, "kwp") != 0 && strcmp(mode, "kw") != 0)
		return kreq_fail(r, KW_ERR_INVALID, "mode must be kw or kwp");
	*pad = strcmp(mode, "kwp") == 0;
	return 0;
}

/* The target's latest material: raw bytes, or PKCS#8 DER (asymmetric). */
static int wrap_material(struct kreq *r, const struct keeper_key *tk, const char *target,
                         uint8_t **out, size_t *outlen)
{
	const struct keeper_version *tv = keeper_key_version(tk, tk->meta.latest_version);
	const uint8_t *raw;
	size_t n;

	if (tv == NULL)
		return kreq_fail(r, KW_ERR_VERSION, "key '%s' has no latest version", target);
	if (kw_key_raw(tv->key, &raw, &n) != 0)
		return kw_key_encode(tv->key, out, outlen) == 0
		           ? 0
		           : kreq_fail(r, KW_ERR_CRYPTO, "key '%s' cannot be encoded", target);
	if ((*out = kw_secure_alloc(n)) == NULL)
		return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
	memcpy(*out, raw, n);
	*outlen = n;
	return 0;
}

/* Wrapping is exporting: the target must be exportable, and the caller
 * needs read on keyward/wrapped/<target> besides the wrapping key's path. */
static int wrap_target(struct kreq *r, struct keeper_key **tk, const char **target)
{
	char path[P11_PATH_MAX];
	size_t n;
	int s;

	*target = kw_ipc_str_or(r->msg, KW_T_TARGET_KEY, "");
	n = strlen(*target);
	if (n == 0 || n > KW_NAME_MAX ||
	    strspn(*target, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        n)
		return kreq_fail(r, KW_ERR_INVALID, "key must name the key to wrap");
	snprintf(path, sizeof(path), "keyward/wrapped/%s", *target);
	if ((s = keeper_authorize(r, path, CAP_READ)) != 0)
		return s;
	p11_path_reset(r, "wrap");
	if ((s = keeper_key_get_named(r, *target, tk)) != 0)
		return s;
	if (!(*tk)->meta.exportable)
		return kreq_fail(r, KW_ERR_NOT_EXPORTABLE,
		                 "key '%s' is not exportable: its material never leaves keyward, "
		                 "wrapped or not",
		                 *target);
	return 0;
}

int keeper_answer_p11_wrap(struct kreq *r)
{
	struct keeper_key *kk, *tk;
	const struct keeper_version *v;
	const char *target;
	const uint8_t *kek;
	uint8_t *mat = NULL, *out = NULL;
	size_t keklen, matlen = 0, outlen = 0;
	bool pad = true;
	int s;

	if ((s = p11_authorize(r, "wrap", NULL)) != 0 || (s = wrap_mode(r, &pad)) != 0 ||
	    (s = keeper_key_get(r, &kk)) != 0 ||
	    (s = need_type(r, kk, is_aes((enum kw_key_type)kk->meta.type),
	                   "wrap (aes128-gcm96 and aes256-gcm96 keys only)")) != 0 ||
	    (s = p11_version(r, kk, true, &v)) != 0 || (s = wrap_target(r, &tk, &target)) != 0 ||
	    (s = wrap_material(r, tk, target, &mat, &matlen)) != 0)
		return s;
	if (kw_key_raw(v->key, &kek, &keklen) != 0)
		s = kreq_fail(r, KW_ERR_KEY_TYPE, "key '%s' has no AES material", r->name);
	else if ((s = kw_aes_key_wrap(pad, kek, keklen, mat, matlen, &out, &outlen)) != 0)
		s = kreq_fail(r, s,
		              "key '%s' cannot be wrapped in mode kw (its material is not whole "
		              "8-byte blocks of at least 16); use kwp",
		              target);
	else
		s = put_result(r, KW_T_OUTPUT, out, outlen, v->version);
	kw_secure_free(mat, matlen);
	free(out);
	if (s == 0)
		kw_info("req=%s: key '%s' wrapped under key '%s'", r->req_id, target, r->name);
	return s;
}

/* Under the read lock: check, authorize, unwrap into a key. */
static int unwrap_prepare(struct kreq *r, struct kw_store_key *m, struct kw_key **key,
                          uint32_t *version)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	const uint8_t *kek, *in;
	uint8_t *mat = NULL;
	size_t keklen, inlen, matlen = 0;
	bool pad = true;
	int s;

	if ((s = keeper_check_unsealed(r)) != 0 || (s = kreq_need_name(r)) != 0 ||
	    (s = new_key_params(r, true, m)) != 0 || (s = new_key_authorize(r, "unwrap", m)) != 0 ||
	    (s = wrap_mode(r, &pad)) != 0 || (s = keeper_key_get(r, &kk)) != 0 ||
	    (s = need_type(r, kk, is_aes((enum kw_key_type)kk->meta.type),
	                   "unwrap (aes128-gcm96 and aes256-gcm96 keys only)")) != 0 ||
	    (s = p11_version(r, kk, false, &v)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_CIPHERTEXT, &in, &inlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "wrapped is required");
	if (kw_key_raw(v->key, &kek, &keklen) != 0)
		return kreq_fail(r, KW_ERR_KEY_TYPE, "key '%s' has no AES material", r->name);
	if (kw_aes_key_unwrap(pad, kek, keklen, in, inlen, &mat, &matlen) != 0)
		return kreq_fail(r, KW_ERR_DECRYPT,
		                 "the wrapped key cannot be unwrapped with key '%s' version %u",
		                 r->name, v->version);
	s = kw_key_decode((enum kw_key_type)m->type, mat, matlen, key);
	kw_secure_free(mat, matlen);
	if (s != 0)
		return kreq_fail(r, KW_ERR_INVALID, "the unwrapped material is not a %s key",
		                 kw_key_type_name((enum kw_key_type)m->type));
	/* An unwrapped key arrives from outside: it is never exportable again. */
	m->exportable = false;
	*version = v->version;
	return 0;
}

int keeper_answer_p11_unwrap(struct kreq *r)
{
	struct kw_store_key m;
	struct kw_key *key = NULL;
	uint32_t version = 0;
	int s;

	pthread_rwlock_rdlock(&r->k->lock);
	s = unwrap_prepare(r, &m, &key, &version);
	pthread_rwlock_unlock(&r->k->lock);
	if (s != 0) {
		kw_key_free(key);
		return s;
	}
	return new_key_store(r, &m, &key, version);
}

/* ---- PKCS#11 objects ---- */

/*
 * Stored form: u8 format | u16 len class | u16 len key | u8 len id |
 * u16 len label | u32 len value | u16 len attrs, each followed by its bytes
 * in that order (lengths first, then the bytes, all big-endian).
 */
struct p11_object {
	const char *cls, *key, *label, *attrs;
	const uint8_t *id, *value;
	size_t idlen, valuelen;
};

static int object_path(struct kreq *r, char *path, size_t len)
{
	int s = kreq_need_name(r);

	if (s == 0)
		snprintf(path, len, "keyward/objects/%s", r->name);
	return s;
}

static int object_fields(struct kreq *r, struct p11_object *o)
{
	size_t n;

	memset(o, 0, sizeof(*o));
	o->cls = kw_ipc_str_or(r->msg, KW_T_OBJ_CLASS, "");
	o->key = kw_ipc_str_or(r->msg, KW_T_OBJ_KEY, "");
	o->label = kw_ipc_str_or(r->msg, KW_T_OBJ_LABEL, "");
	o->attrs = kw_ipc_str_or(r->msg, KW_T_OBJ_ATTRS, "{}");
	if (strcmp(o->cls, "certificate") != 0 && strcmp(o->cls, "data") != 0)
		return kreq_fail(r, KW_ERR_INVALID, "class must be certificate or data");
	n = strlen(o->key);
	if (n > KW_NAME_MAX ||
	    strspn(o->key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        n)
		return kreq_fail(r, KW_ERR_INVALID, "key must be empty or a key name");
	if (kw_ipc_get_bytes(r->msg, KW_T_OBJ_ID, &o->id, &o->idlen) != 0)
		o->idlen = 0;
	if (o->idlen > KW_STORE_PKCS11_ID_MAX)
		return kreq_fail(r, KW_ERR_INVALID, "id is at most %d bytes",
		                 KW_STORE_PKCS11_ID_MAX);
	if (strlen(o->label) > P11_OBJECT_LABEL_MAX || strlen(o->attrs) > P11_OBJECT_ATTRS_MAX)
		return kreq_fail(r, KW_ERR_INVALID,
		                 "label is at most %d bytes and attributes at most %d",
		                 P11_OBJECT_LABEL_MAX, P11_OBJECT_ATTRS_MAX);
	if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, &o->value, &o->valuelen) != 0)
		o->valuelen = 0;
	if (o->valuelen > P11_OBJECT_VALUE_MAX)
		return kreq_fail(r, KW_ERR_INVALID, "value is at most %d bytes",
		                 P11_OBJECT_VALUE_MAX);
	return 0;
}

static int object_encode(const struct p11_object *o, struct kw_buf *b)
{
	size_t cl = strlen(o->cls), kl = strlen(o->key), ll = strlen(o->label),
	       al = strlen(o->attrs);

	if (kw_buf_append_u8(b, P11_OBJECT_FORMAT) != 0 ||
	    kw_buf_append_u16(b, (uint16_t)cl) != 0 || kw_buf_append_u16(b, (uint16_t)kl) != 0 ||
	    kw_buf_append_u8(b, (uint8_t)o->idlen) != 0 ||
	    kw_buf_append_u16(b, (uint16_t)ll) != 0 ||
	    kw_buf_append_u32(b, (uint32_t)o->valuelen) != 0 ||
	    kw_buf_append_u16(b, (uint16_t)al) != 0 || kw_buf_append(b, o->cls, cl) != 0 ||
	    kw_buf_append(b, o->key, kl) != 0 || kw_buf_append(b, o->id, o->idlen) != 0 ||
	    kw_buf_append(b, o->label, ll) != 0 || kw_buf_append(b, o->value, o->valuelen) != 0 ||
	    kw_buf_append(b, o->attrs, al) != 0)
		return KW_ERR_NOMEM;
	return 0;
}

/* Put one length-prefixed piece of a stored object into the reply. */
static int object_piece(struct kreq *r, uint16_t tag, bool str, const uint8_t *p, size_t n)
{
	char *s;
	int rc;

	if (!str)
		return kw_ipc_put(r->reply, tag, p, n);
	if (memchr(p, '\0', n) != NULL || (s = malloc(n + 1)) == NULL)
		return KW_ERR_STORE;
	memcpy(s, p, n);
	s[n] = '\0';
	rc = kw_ipc_put_str(r->reply, tag, s);
	free(s);
	return rc;
}

static int object_decode_put(struct kreq *r, const uint8_t *p, size_t len)
{
	static const struct {
		uint16_t tag;
		bool str;
	} pieces[] = {{KW_T_OBJ_CLASS, true}, {KW_T_OBJ_KEY, true}, {KW_T_OBJ_ID, false},
	              {KW_T_OBJ_LABEL, true}, {KW_T_OUTPUT, false}, {KW_T_OBJ_ATTRS, true}};
	size_t lens[KW_ARRAY_LEN(pieces)], off = 1 + 2 + 2 + 1 + 2 + 4 + 2, total = off;

	if (len < off || p[0] != P11_OBJECT_FORMAT)
		return KW_ERR_STORE;
	lens[0] = kw_load_u16(p + 1);
	lens[1] = kw_load_u16(p + 3);
	lens[2] = p[5];
	lens[3] = kw_load_u16(p + 6);
	lens[4] = kw_load_u32(p + 8);
	lens[5] = kw_load_u16(p + 12);
	for (size_t i = 0; i < KW_ARRAY_LEN(lens); i++)
		total += lens[i];
	if (total != len)
		return KW_ERR_STORE;
	for (size_t i = 0; i < KW_ARRAY_LEN(pieces); i++) {
		int rc = object_piece(r, pieces[i].tag, pieces[i].str, p + off, lens[i]);
		if (rc != 0)
			return rc;
		off += lens[i];
	}
	return 0;
}

int keeper_answer_p11_object_put(struct kreq *r)
{
	struct p11_object o;
	uint8_t *old = NULL;
	size_t oldlen = 0;
	char path[P11_PATH_MAX];
	struct kw_buf b;
	bool exists;
	int s;

	if ((s = object_path(r, path, sizeof(path))) != 0)
		return s;
	exists = kw_store_object_get(r->k->store, r->name, &old, &oldlen) == 0;
	free(old);
	if ((s = keeper_authorize(r, path, exists ? CAP_UPDATE : CAP_CREATE)) != 0 ||
	    (s = object_fields(r, &o)) != 0)
		return s;
	kw_buf_init(&b);
	if ((s = object_encode(&o, &b)) == 0)
		s = kw_store_object_put(r->k->store, r->name, b.data, b.len);
	kw_buf_cleanup(&b);
	if (s != 0)
		return kreq_fail(r, s, "cannot store object '%s'", r->name);
	return 0;
}

int keeper_answer_p11_object_get(struct kreq *r)
{
	char path[P11_PATH_MAX];
	uint8_t *blob = NULL;
	size_t len = 0;
	int s;

	if ((s = object_path(r, path, sizeof(path))) != 0 ||
	    (s = keeper_authorize(r, path, CAP_READ)) != 0)
		return s;
	if ((s = kw_store_object_get(r->k->store, r->name, &blob, &len)) != 0)
		return kreq_fail(r, s,
		                 s == KW_ERR_NOT_FOUND ? "object '%s' not found"
		                                       : "object '%s' cannot be read",
		                 r->name);
	if ((s = kw_ipc_put_str(r->reply, KW_T_NAME, r->name)) == 0)
		s = object_decode_put(r, blob, len);
	free(blob);
	if (s == KW_ERR_STORE)
		kw_error("req=%s: object '%s' is not in the stored format", r->req_id, r->name);
	return s ? kreq_fail(r, s, "object '%s' cannot be read", r->name) : 0;
}

int keeper_answer_p11_object_delete(struct kreq *r)
{
	char path[P11_PATH_MAX];
	int s;

	if ((s = object_path(r, path, sizeof(path))) != 0 ||
	    (s = keeper_authorize(r, path, CAP_DELETE)) != 0)
		return s;
	if ((s = kw_store_object_delete(r->k->store, r->name)) != 0)
		return kreq_fail(r, s,
		                 s == KW_ERR_NOT_FOUND ? "object '%s' not found"
		                                       : "cannot delete object '%s'",
		                 r->name);
	return 0;
}

int keeper_answer_p11_object_list(struct kreq *r)
{
	char **names = NULL;
	size_t n = 0;
	int s;

	if ((s = keeper_authorize(r, "keyward/objects", CAP_LIST)) != 0)
		return s;
	if ((s = kw_store_object_list(r->k->store, &names, &n)) != 0)
		return kreq_fail(r, s, "the store cannot be read");
	for (size_t i = 0; i < n && s == 0; i++)
		s = kw_ipc_put_str(r->reply, KW_T_NAME, names[i]);
	kw_store_names_free(names, n);
	return s ? kreq_fail(r, s, "too many objects for one reply") : 0;
}
