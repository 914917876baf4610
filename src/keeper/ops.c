/*
 * ops.c: the operations that use a key — encrypt, decrypt, rewrap, datakey,
 * sign, verify, hmac — and the two that use none but the keeper's RNG and
 * hashes. Each handler checks the caller, the key's type and version and the
 * shape of its input before the key is touched: the keeper is never a raw
 * oracle. Plaintext copies are wiped before they are freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keeper_int.h"

/* Authorize "transit/<op>/<name>" for update and fetch the key. */
static int op_begin(struct kreq *r, const char *op, struct keeper_key **kk)
{
	char path[KW_NAME_MAX + 64];
	int s;

	if ((s = kreq_need_name(r)) != 0)
		return s;
	snprintf(path, sizeof(path), "transit/%s/%s", op, r->name);
	if ((s = keeper_authorize(r, path, CAP_UPDATE)) != 0)
		return s;
	return keeper_key_get(r, kk);
}

static const char *type_name(const struct keeper_key *kk)
{
	return kw_key_type_name((enum kw_key_type)kk->meta.type);
}

/* The version to write with: key_version if given (not below
 * min_encryption_version), else the latest. */
static int version_for_write(struct kreq *r, const struct keeper_key *kk, uint16_t tag,
                             const struct keeper_version **out)
{
	uint32_t want = kw_ipc_u32_or(r->msg, tag, 0);
	const struct keeper_version *v;

	if (want == 0)
		want = kk->meta.latest_version;
	if (kk->meta.min_encryption_version != 0 && want < kk->meta.min_encryption_version)
		return kreq_fail(r, KW_ERR_VERSION,
		                 "key '%s' version %u is below its min_encryption_version %u",
		                 r->name, want, kk->meta.min_encryption_version);
	if ((v = keeper_key_version(kk, want)) == NULL)
		return kreq_fail(r, KW_ERR_VERSION, "key '%s' has no version %u", r->name, want);
	*out = v;
	return 0;
}

/* The version a ciphertext, signature or MAC names: must exist and not be
 * below min_decryption_version. */
static int version_for_read(struct kreq *r, const struct keeper_key *kk,
                            const struct keeper_version **out)
{
	uint32_t want;
	const struct keeper_version *v;

	if (kw_ipc_get_u32(r->msg, KW_T_VERSION, &want) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "the key version is missing");
	if (want < kk->meta.min_decryption_version)
		return kreq_fail(r, KW_ERR_VERSION,
		                 "key '%s' version %u is below its min_decryption_version %u",
		                 r->name, want, kk->meta.min_decryption_version);
	if ((v = keeper_key_version(kk, want)) == NULL)
		return kreq_fail(r, KW_ERR_VERSION, "key '%s' has no version %u", r->name, want);
	*out = v;
	return 0;
}

static int need_encryption_key(struct kreq *r, const struct keeper_key *kk)
{
	if (!kw_key_type_can_encrypt((enum kw_key_type)kk->meta.type))
		return kreq_fail(r, KW_ERR_KEY_TYPE, "key '%s' of type %s cannot encrypt", r->name,
		                 type_name(kk));
	return 0;
}

/* Encrypt pt with version v of kk: AEAD for symmetric keys, OAEP for RSA. */
static int seal_with(struct kreq *r, const struct keeper_key *kk, const struct keeper_version *v,
                     const uint8_t *pt, size_t ptlen, uint8_t **ct, size_t *ctlen)
{
	enum kw_key_type t = (enum kw_key_type)kk->meta.type;
	const uint8_t *aad = NULL;
	size_t aadlen = 0;
	const char *pad = kw_ipc_str_or(r->msg, KW_T_PADDING, "oaep");
	int s;

	if (kw_ipc_get_bytes(r->msg, KW_T_AAD, &aad, &aadlen) != 0)
		aadlen = 0; /* none given */
	if (kw_key_type_is_rsa(t)) {
		if (aadlen != 0)
			return kreq_fail(r, KW_ERR_INVALID, "associated_data needs an AEAD key");
		if (strcmp(pad, "oaep") != 0)
			return kreq_fail(r, KW_ERR_UNSUPPORTED,
			                 "padding_scheme must be oaep for RSA encryption");
		s = kw_rsa_oaep_encrypt(v->key, KW_HASH_SHA256, pt, ptlen, ct, ctlen);
	} else {
		s = kw_aead_encrypt(v->key, pt, ptlen, aad, aadlen, ct, ctlen);
	}
	if (s != 0)
		return kreq_fail(r, s, "encryption with key '%s' failed: %s", r->name,
		                 kw_err_str(s));
	return 0;
}

static int open_with(struct kreq *r, const struct keeper_key *kk, const struct keeper_version *v,
                     const uint8_t *ct, size_t ctlen, uint8_t **pt, size_t *ptlen)
{
	enum kw_key_type t = (enum kw_key_type)kk->meta.type;
	const uint8_t *aad = NULL;
	size_t aadlen = 0;
	int s;

	if (kw_ipc_get_bytes(r->msg, KW_T_AAD, &aad, &aadlen) != 0)
		aadlen = 0; /* none given */
	if (kw_key_type_is_rsa(t))
		s = kw_rsa_oaep_decrypt(v->key, KW_HASH_SHA256, ct, ctlen, pt, ptlen);
	else
		s = kw_aead_decrypt(v->key, ct, ctlen, aad, aadlen, pt, ptlen);
	if (s != 0)
		return kreq_fail(r, KW_ERR_DECRYPT,
		                 "the ciphertext cannot be decrypted with key '%s' version %u",
		                 r->name, v->version);
	return 0;
}

static void plain_free(uint8_t *p, size_t len)
{
	kw_wipe(p, len);
	free(p);
}

static int put_ciphertext(struct kreq *r, const uint8_t *ct, size_t ctlen, uint32_t version)
{
	if (kw_ipc_put(r->reply, KW_T_CIPHERTEXT, ct, ctlen) != 0 ||
	    kw_ipc_put_u32(r->reply, KW_T_VERSION, version) != 0)
		return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	return 0;
}

int keeper_answer_encrypt(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	const uint8_t *pt;
	size_t ptlen, ctlen = 0;
	uint8_t *ct = NULL;
	int s;

	if ((s = op_begin(r, "encrypt", &kk)) != 0 || (s = need_encryption_key(r, kk)) != 0 ||
	    (s = version_for_write(r, kk, KW_T_VERSION, &v)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_PLAINTEXT, &pt, &ptlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "plaintext is required");
	if ((s = seal_with(r, kk, v, pt, ptlen, &ct, &ctlen)) != 0)
		return s;
	s = put_ciphertext(r, ct, ctlen, v->version);
	free(ct);
	return s;
}

int keeper_answer_decrypt(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	const uint8_t *ct;
	size_t ctlen, ptlen = 0;
	uint8_t *pt = NULL;
	int s;

	if ((s = op_begin(r, "decrypt", &kk)) != 0 || (s = need_encryption_key(r, kk)) != 0 ||
	    (s = version_for_read(r, kk, &v)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_CIPHERTEXT, &ct, &ctlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "ciphertext is required");
	if ((s = open_with(r, kk, v, ct, ctlen, &pt, &ptlen)) != 0)
		return s;
	if (kw_ipc_put(r->reply, KW_T_PLAINTEXT, pt, ptlen) != 0)
		s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	plain_free(pt, ptlen);
	return s;
}

int keeper_answer_rewrap(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *from, *to;
	const uint8_t *ct;
	size_t ctlen, ptlen = 0, outlen = 0;
	uint8_t *pt = NULL, *out = NULL;
	int s;

	if ((s = op_begin(r, "rewrap", &kk)) != 0 || (s = need_encryption_key(r, kk)) != 0 ||
	    (s = version_for_read(r, kk, &from)) != 0 ||
	    (s = version_for_write(r, kk, KW_T_TARGET_VERSION, &to)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_CIPHERTEXT, &ct, &ctlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "ciphertext is required");
	/* The plaintext exists only here, between the two calls. */
	if ((s = open_with(r, kk, from, ct, ctlen, &pt, &ptlen)) != 0)
		return s;
	s = seal_with(r, kk, to, pt, ptlen, &out, &outlen);
	plain_free(pt, ptlen);
	if (s == 0)
		s = put_ciphertext(r, out, outlen, to->version);
	free(out);
	return s;
}

int keeper_answer_datakey(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	uint32_t bits = kw_ipc_u32_or(r->msg, KW_T_BITS, 256);
	bool with_plain = kw_ipc_u32_or(r->msg, KW_T_WITH_PLAINTEXT, 0) != 0;
	uint8_t dk[64], *ct = NULL;
	size_t ctlen = 0;
	char path[KW_NAME_MAX + 64];
	int s;

	if ((s = kreq_need_name(r)) != 0)
		return s;
	snprintf(path, sizeof(path), "transit/datakey/%s/%s", with_plain ? "plaintext" : "wrapped",
	         r->name);
	if ((s = keeper_authorize(r, path, CAP_UPDATE)) != 0 || (s = keeper_key_get(r, &kk)) != 0 ||
	    (s = need_encryption_key(r, kk)) != 0 ||
	    (s = version_for_write(r, kk, KW_T_VERSION, &v)) != 0)
		return s;
	if (bits != 128 && bits != 256 && bits != 512)
		return kreq_fail(r, KW_ERR_INVALID, "bits must be 128, 256 or 512");
	if ((s = kw_random(dk, bits / 8)) != 0)
		return kreq_fail(r, s, "the random generator failed");
	if ((s = seal_with(r, kk, v, dk, bits / 8, &ct, &ctlen)) == 0 &&
	    (s = put_ciphertext(r, ct, ctlen, v->version)) == 0 && with_plain &&
	    kw_ipc_put(r->reply, KW_T_PLAINTEXT, dk, bits / 8) != 0)
		s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	kw_wipe(dk, sizeof(dk));
	free(ct);
	return s;
}

/* Signature parameters from the request, checked against the key type. */
static int sign_params(struct kreq *r, const struct keeper_key *kk, struct kw_sign_params *p)
{
	enum kw_key_type t = (enum kw_key_type)kk->meta.type;
	const char *hash = kw_ipc_str_or(r->msg, KW_T_HASH, "sha2-256");
	const char *alg = kw_ipc_str_or(r->msg, KW_T_SIG_ALG, "pss");
	const char *marshal = kw_ipc_str_or(r->msg, KW_T_MARSHAL, "asn1");
	uint32_t salt;

	kw_sign_params_default(p);
	if (kw_hash_from_name(hash, &p->hash) != 0)
		return kreq_fail(r, KW_ERR_UNSUPPORTED, "unknown hash_algorithm '%.40s'", hash);
	p->prehashed = kw_ipc_u32_or(r->msg, KW_T_PREHASHED, 0) != 0;
	if (strcmp(alg, "pss") == 0)
		p->padding = KW_RSA_PSS;
	else if (strcmp(alg, "pkcs1v15") == 0)
		p->padding = KW_RSA_PKCS1V15;
	else
		return kreq_fail(r, KW_ERR_UNSUPPORTED,
		                 "signature_algorithm must be pss or pkcs1v15");
	if (strcmp(marshal, "asn1") == 0)
		p->marshal = KW_ECDSA_ASN1;
	else if (strcmp(marshal, "jws") == 0)
		p->marshal = KW_ECDSA_JWS;
	else
		return kreq_fail(r, KW_ERR_UNSUPPORTED, "marshaling_algorithm must be asn1 or jws");
	if (kw_ipc_get_u32(r->msg, KW_T_SALT_LEN, &salt) == 0) {
		if (salt == KW_SALT_LEN_HASH)
			salt = (uint32_t)kw_hash_size(p->hash);
		else if (salt > KW_SIG_MAX_BYTES)
			return kreq_fail(r, KW_ERR_INVALID, "salt_length is too large");
		p->salt_len = (int)salt;
	}
	if (p->prehashed && t == KW_KEY_ED25519)
		return kreq_fail(r, KW_ERR_INVALID, "ed25519 keys sign the message, not a digest");
	if (p->prehashed) {
		const uint8_t *in;
		size_t inlen;
		if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, &in, &inlen) == 0 &&
		    inlen != kw_hash_size(p->hash))
			return kreq_fail(r, KW_ERR_INVALID,
			                 "prehashed input must be a %zu-byte %s digest",
			                 kw_hash_size(p->hash), kw_hash_name(p->hash));
	}
	return 0;
}

static int need_signing_key(struct kreq *r, const struct keeper_key *kk)
{
	if (!kw_key_type_can_sign((enum kw_key_type)kk->meta.type))
		return kreq_fail(r, KW_ERR_KEY_TYPE, "key '%s' of type %s cannot sign", r->name,
		                 type_name(kk));
	return 0;
}

int keeper_answer_sign(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	struct kw_sign_params p;
	const uint8_t *in;
	size_t inlen, siglen = 0;
	uint8_t *sig = NULL;
	int s;

	if ((s = op_begin(r, "sign", &kk)) != 0 || (s = need_signing_key(r, kk)) != 0 ||
	    (s = version_for_write(r, kk, KW_T_VERSION, &v)) != 0 ||
	    (s = sign_params(r, kk, &p)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, &in, &inlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "input is required");
	if ((s = kw_sign(v->key, &p, in, inlen, &sig, &siglen)) != 0)
		return kreq_fail(r, s, "signing with key '%s' failed: %s", r->name, kw_err_str(s));
	if (kw_ipc_put(r->reply, KW_T_SIGNATURE, sig, siglen) != 0 ||
	    kw_ipc_put_u32(r->reply, KW_T_VERSION, v->version) != 0)
		s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	free(sig);
	return s;
}

static const uint8_t *hmac_key_of(const struct keeper_key *kk, const struct keeper_version *v,
                                  size_t *len)
{
	const uint8_t *raw;

	/* An hmac key's own material is its MAC key; every other type has a
	 * separate random MAC key per version (as Vault). */
	if (kk->meta.type == KW_KEY_HMAC && kw_key_raw(v->key, &raw, len) == 0)
		return raw;
	*len = KEEPER_VERSION_HMAC_BYTES;
	return v->hmac_key;
}

static int mac_compute(struct kreq *r, const struct keeper_key *kk, const struct keeper_version *v,
                       uint8_t *mac, size_t *maclen)
{
	const char *hash = kw_ipc_str_or(r->msg, KW_T_HASH, "sha2-256");
	const uint8_t *in, *key;
	size_t inlen, keylen;
	enum kw_hash h;

	if (kw_hash_from_name(hash, &h) != 0)
		return kreq_fail(r, KW_ERR_UNSUPPORTED, "unknown algorithm '%.40s'", hash);
	if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, &in, &inlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "input is required");
	key = hmac_key_of(kk, v, &keylen);
	if (kw_hmac(h, key, keylen, in, inlen, mac, maclen) != 0)
		return kreq_fail(r, KW_ERR_CRYPTO, "hmac with key '%s' failed", r->name);
	return 0;
}

static int verify_mac(struct kreq *r, const struct keeper_key *kk, const struct keeper_version *v,
                      const uint8_t *mac, size_t maclen)
{
	uint8_t want[KW_HASH_MAX_BYTES];
	size_t wantlen = sizeof(want);
	int s;

	if ((s = mac_compute(r, kk, v, want, &wantlen)) != 0)
		return s;
	s = kw_ipc_put_u32(r->reply, KW_T_VALID,
	                   maclen == wantlen && kw_ct_equal(mac, want, wantlen));
	kw_wipe(want, sizeof(want));
	return s ? kreq_fail(r, s, "reply too large") : 0;
}

int keeper_answer_verify(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	struct kw_sign_params p;
	const uint8_t *in, *sig;
	size_t inlen, siglen;
	bool valid = false;
	int s;

	if ((s = op_begin(r, "verify", &kk)) != 0 || (s = version_for_read(r, kk, &v)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_MAC, &sig, &siglen) == 0)
		return verify_mac(r, kk, v, sig, siglen);
	if ((s = need_signing_key(r, kk)) != 0 || (s = sign_params(r, kk, &p)) != 0)
		return s;
	if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, &in, &inlen) != 0 ||
	    kw_ipc_get_bytes(r->msg, KW_T_SIGNATURE, &sig, &siglen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "input and signature are required");
	if ((s = kw_verify(v->key, &p, in, inlen, sig, siglen, &valid)) != 0)
		return kreq_fail(r, s, "verification with key '%s' failed: %s", r->name,
		                 kw_err_str(s));
	if (kw_ipc_put_u32(r->reply, KW_T_VALID, valid) != 0)
		return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	return 0;
}

int keeper_answer_hmac(struct kreq *r)
{
	struct keeper_key *kk;
	const struct keeper_version *v;
	uint8_t mac[KW_HASH_MAX_BYTES];
	size_t maclen = sizeof(mac);
	int s;

	if ((s = op_begin(r, "hmac", &kk)) != 0 ||
	    (s = version_for_write(r, kk, KW_T_VERSION, &v)) != 0 ||
	    (s = mac_compute(r, kk, v, mac, &maclen)) != 0)
		return s;
	if (kw_ipc_put(r->reply, KW_T_MAC, mac, maclen) != 0 ||
	    kw_ipc_put_u32(r->reply, KW_T_VERSION, v->version) != 0)
		return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	return 0;
}

int keeper_answer_random(struct kreq *r)
{
	uint32_t n = kw_ipc_u32_or(r->msg, KW_T_BYTES, 32);
	uint8_t *p;
	int s;

	if ((s = keeper_authorize(r, "transit/random", CAP_UPDATE)) != 0)
		return s;
	if (n < 1 || n > KEEPER_RANDOM_MAX)
		return kreq_fail(r, KW_ERR_INVALID, "bytes must be between 1 and %d",
		                 KEEPER_RANDOM_MAX);
	if ((p = malloc(n)) == NULL)
		return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
	if ((s = kw_random(p, n)) != 0)
		s = kreq_fail(r, s, "the random generator failed");
	else if (kw_ipc_put(r->reply, KW_T_OUTPUT, p, n) != 0)
		s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	plain_free(p, n);
	return s;
}

int keeper_answer_hash(struct kreq *r)
{
	const char *name = kw_ipc_str_or(r->msg, KW_T_HASH, "sha2-256");
	uint8_t out[KW_HASH_MAX_BYTES];
	size_t outlen = sizeof(out);
	const uint8_t *in;
	size_t inlen;
	enum kw_hash h;
	int s;

	if ((s = keeper_authorize(r, "transit/hash", CAP_UPDATE)) != 0)
		return s;
	if (kw_hash_from_name(name, &h) != 0)
		return kreq_fail(r, KW_ERR_UNSUPPORTED, "unknown algorithm '%.40s'", name);
	if (kw_ipc_get_bytes(r->msg, KW_T_INPUT, &in, &inlen) != 0)
		return kreq_fail(r, KW_ERR_INVALID, "input is required");
	if (kw_hash_digest(h, in, inlen, out, &outlen) != 0)
		return kreq_fail(r, KW_ERR_CRYPTO, "hashing failed");
	if (kw_ipc_put(r->reply, KW_T_OUTPUT, out, outlen) != 0)
		return kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	return 0;
}
