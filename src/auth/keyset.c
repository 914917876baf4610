/*
 * keyset.c: sets of public verification keys — from PEM (SPKI or an X.509
 * certificate's key) and from JWKS documents — and kube-apiserver's kid.
 *
 * Every key is checked when it is loaded (RSA size, named curve, OpenSSL's
 * public-key validation), so verification never meets a key it cannot use
 * safely. Loads are all or nothing: a set never holds half a document.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../crypto/crypto.h"
#include "auth_int.h"

/* A PEM text or JWKS document larger than this is not a key set. */
#define KEYSET_TEXT_MAX    (1u * 1024 * 1024)
#define RSA_E_BYTES_MAX    8
#define EC_FIELD_BYTES_MAX 66

void auth_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int kw_auth_keyset_new(struct kw_auth_keyset **out)
{
	struct kw_auth_keyset *ks = calloc(1, sizeof(*ks));

	if (ks == NULL)
		return KW_ERR_NOMEM;
	atomic_init(&ks->refs, 1);
	*out = ks;
	return 0;
}

struct kw_auth_keyset *kw_auth_keyset_ref(struct kw_auth_keyset *ks)
{
	atomic_fetch_add(&ks->refs, 1);
	return ks;
}

void auth_key_cleanup(struct auth_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->kid);
	free(k->alg);
	memset(k, 0, sizeof(*k));
}

static void keys_free(struct auth_key *keys, size_t n)
{
	if (keys == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		auth_key_cleanup(&keys[i]);
	free(keys);
}

void kw_auth_keyset_free(struct kw_auth_keyset *ks)
{
	if (ks == NULL || atomic_fetch_sub(&ks->refs, 1) != 1)
		return;
	keys_free(ks->keys, ks->nkeys);
	free(ks);
}

size_t kw_auth_keyset_count(const struct kw_auth_keyset *ks)
{
	return ks->nkeys;
}

const char *kw_auth_keyset_kid(const struct kw_auth_keyset *ks, size_t i)
{
	return i < ks->nkeys ? ks->keys[i].kid : NULL;
}

bool kw_auth_keyset_has_kid(const struct kw_auth_keyset *ks, const char *kid)
{
	for (size_t i = 0; i < ks->nkeys; i++)
		if (strcmp(ks->keys[i].kid, kid) == 0)
			return true;
	return false;
}

int auth_keyset_append(struct kw_auth_keyset *ks, struct auth_key *keys, size_t n)
{
	struct auth_key *grown;
	int r = 0;

	/* Readers on other threads walk keys[] without a lock: a shared set
	 * must never change under them. */
	if (atomic_load(&ks->refs) != 1) {
		r = KW_ERR_INVALID;
		goto out;
	}
	if (n > KW_AUTH_KEYSET_KEYS_MAX - ks->nkeys) {
		r = KW_ERR_LIMIT;
		goto out;
	}
	grown = realloc(ks->keys, (ks->nkeys + n) * sizeof(*grown));
	if (grown == NULL && ks->nkeys + n > 0) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	ks->keys = grown;
	memcpy(ks->keys + ks->nkeys, keys, n * sizeof(*keys));
	ks->nkeys += n;
	free(keys);
	return 0;
out:
	keys_free(keys, n);
	return r;
}

int kw_auth_kid_derive(const uint8_t *spki_der, size_t len, char out[KW_AUTH_DERIVED_KID_LEN + 1])
{
	uint8_t dgst[KW_HASH_MAX_BYTES];
	size_t dlen = sizeof(dgst);
	char *b64 = NULL;
	int r;

	r = kw_hash_digest(KW_HASH_SHA256, spki_der, len, dgst, &dlen);
	if (r != 0)
		goto out;
	r = kw_base64url_encode(dgst, dlen, &b64);
	if (r != 0)
		goto out;
	if (strlen(b64) != KW_AUTH_DERIVED_KID_LEN) {
		r = KW_ERR_INTERNAL;
		goto out;
	}
	memcpy(out, b64, KW_AUTH_DERIVED_KID_LEN + 1);
out:
	free(b64);
	return r;
}

static int pkey_kid_derive(EVP_PKEY *pkey, char out[KW_AUTH_DERIVED_KID_LEN + 1])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pkey, &der);
	int r;

	if (n <= 0)
		return KW_ERR_CRYPTO;
	r = kw_auth_kid_derive(der, (size_t)n, out);
	OPENSSL_free(der);
	return r;
}

static int ec_kind(EVP_PKEY *pkey, enum auth_key_kind *kind)
{
	char group[64];

	if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL))
		return KW_ERR_UNSUPPORTED;
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		*kind = AUTH_KEY_P256;
	else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
		*kind = AUTH_KEY_P384;
	else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
		*kind = AUTH_KEY_P521;
	else
		return KW_ERR_UNSUPPORTED;
	return 0;
}

static bool pkey_public_valid(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	bool ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* Which kind of key this is, or why we will not verify with it. */
static int pkey_classify(EVP_PKEY *pkey, enum auth_key_kind *kind, const char **why)
{
	int bits;

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < KW_AUTH_RSA_MIN_BITS || bits > KW_AUTH_RSA_MAX_BITS) {
			*why = "RSA key size out of range";
			return KW_ERR_UNSUPPORTED;
		}
		*kind = AUTH_KEY_RSA;
		break;
	case EVP_PKEY_EC:
		if (ec_kind(pkey, kind) != 0) {
			*why = "EC key not on P-256, P-384 or P-521";
			return KW_ERR_UNSUPPORTED;
		}
		break;
	default:
		*why = "key type is neither RSA nor EC";
		return KW_ERR_UNSUPPORTED;
	}
	if (!pkey_public_valid(pkey)) {
		*why = "public key fails validation";
		return KW_ERR_INVALID;
	}
	return 0;
}

/* ---- PEM ---- */

/* The public key of one PEM block's DER, by its label. */
static int pem_block_pkey(const char *label, const unsigned char *der, long len, EVP_PKEY **out,
                          const char **why)
{
	const unsigned char *p = der;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;

	if (strcmp(label, "PUBLIC KEY") == 0) {
		pkey = d2i_PUBKEY(NULL, &p, len);
	} else if (strcmp(label, "RSA PUBLIC KEY") == 0) {
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
	} else if (strcmp(label, "CERTIFICATE") == 0) {
		cert = d2i_X509(NULL, &p, len);
		if (cert != NULL)
			pkey = X509_get_pubkey(cert);
		X509_free(cert);
	} else {
		*why = strstr(label, "PRIVATE") != NULL
		           ? "a private key was given; give only the public key"
		           : "not a PUBLIC KEY or CERTIFICATE block";
		return KW_ERR_UNSUPPORTED;
	}
	ERR_clear_error();
	/* Trailing bytes inside a block would mean two readings of one text. */
	if (pkey == NULL || p != der + len) {
		EVP_PKEY_free(pkey);
		*why = "the block does not decode";
		return KW_ERR_INVALID;
	}
	*out = pkey;
	return 0;
}

static int key_from_pkey(EVP_PKEY *pkey, const char *kid, bool is_static, struct auth_key *k,
                         const char **why)
{
	char derived[KW_AUTH_DERIVED_KID_LEN + 1];
	enum auth_key_kind kind;
	int r;

	r = pkey_classify(pkey, &kind, why);
	if (r != 0)
		return r;
	if (kid == NULL) {
		r = pkey_kid_derive(pkey, derived);
		if (r != 0)
			return r;
		kid = derived;
	}
	k->kid = kw_strdup(kid);
	if (k->kid == NULL)
		return KW_ERR_NOMEM;
	k->pkey = pkey;
	k->kind = kind;
	k->is_static = is_static;
	return 0;
}

/* The next PEM block, or 0 with *done at the end of the text. */
static int pem_next(BIO *bio, char **label, unsigned char **der, long *len, bool *done)
{
	char *header = NULL;
	unsigned long e;

	if (PEM_read_bio(bio, label, &header, der, len) == 1) {
		OPENSSL_free(header);
		return 0;
	}
	e = ERR_peek_last_error();
	ERR_clear_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		*done = true;
		return 0;
	}
	return KW_ERR_INVALID;
}

static int pem_add_block(const char *label, unsigned char *der, long len, const char *kid,
                         struct auth_key *k, const char **why)
{
	EVP_PKEY *pkey = NULL;
	int r;

	r = pem_block_pkey(label, der, len, &pkey, why);
	if (r != 0)
		return r;
	r = key_from_pkey(pkey, kid, true, k, why);
	if (r != 0)
		EVP_PKEY_free(pkey);
	return r;
}

/* Every block of a PEM text into keys[] (KW_AUTH_KEYSET_KEYS_MAX long). */
static int pem_parse_all(BIO *bio, const char *kid, struct auth_key *keys, size_t *n,
                         const char **why)
{
	int r = 0;

	for (;;) {
		char *label = NULL;
		unsigned char *der = NULL;
		long dlen = 0;
		bool done = false;

		*why = "PEM block does not decode";
		r = pem_next(bio, &label, &der, &dlen, &done);
		if (r != 0 || done)
			break;
		r = KW_ERR_LIMIT;
		*why = "too many keys";
		if (*n < KW_AUTH_KEYSET_KEYS_MAX)
			r = pem_add_block(label, der, dlen, kid, &keys[*n], why);
		/* The block may have been a private key pasted by mistake. */
		OPENSSL_clear_free(der, dlen > 0 ? (size_t)dlen : 0);
		OPENSSL_free(label);
		if (r != 0)
			break;
		(*n)++;
	}
	if (r == 0 && *n == 0) {
		*why = "no PEM block";
		r = KW_ERR_INVALID;
	}
	return r;
}

int kw_auth_keyset_add_pem(struct kw_auth_keyset *ks, const char *pem, size_t len, const char *kid,
                           char *err, size_t errlen)
{
	struct auth_key *keys = NULL;
	size_t n = 0;
	BIO *bio = NULL;
	const char *why = NULL;
	int r = KW_ERR_INVALID;

	if (len > KEYSET_TEXT_MAX || (kid != NULL && strlen(kid) > KW_AUTH_KID_MAX)) {
		auth_err(err, errlen, "PEM: text or kid too long");
		goto out;
	}
	keys = calloc(KW_AUTH_KEYSET_KEYS_MAX, sizeof(*keys));
	bio = BIO_new_mem_buf(pem, (int)len);
	if (keys == NULL || bio == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	r = pem_parse_all(bio, kid, keys, &n, &why);
	if (r != 0) {
		auth_err(err, errlen, "PEM block %zu: %s", n + 1, why);
		goto out;
	}
	r = auth_keyset_append(ks, keys, n);
	keys = NULL;
	if (r != 0)
		auth_err(err, errlen, "PEM: %s",
		         r == KW_ERR_INVALID ? "the key set is shared" : "too many keys");
out:
	keys_free(keys, n);
	BIO_free(bio);
	return r;
}

/* ---- JWKS (RFC 7517, RFC 7518 section 6) ---- */

struct jwks_entry {
	const json_t *obj;
	size_t index;
	char *err;
	size_t errlen;
};

/* A string member, NULL if absent; KW_ERR_INVALID if present and not a string. */
static int member_string(const json_t *obj, const char *name, const char **out)
{
	const json_t *v = json_object_get(obj, name);

	if (v == NULL) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return KW_ERR_INVALID;
	*out = json_string_value(v);
	return 0;
}

/* Base64urlUInt and coordinates: unpadded base64url only (RFC 7515 section 2). */
static int member_bytes(const json_t *obj, const char *name, uint8_t **out, size_t *outlen)
{
	const char *s;
	size_t n;

	if (member_string(obj, name, &s) != 0 || s == NULL)
		return KW_ERR_INVALID;
	n = strlen(s);
	if (n == 0 || memchr(s, '=', n) != NULL)
		return KW_ERR_BASE64;
	return kw_base64url_decode(s, n, out, outlen);
}

static int rsa_pkey_build(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
                          EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
	int r = KW_ERR_NOMEM;

	if (bld == NULL || bn == NULL || be == NULL)
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL)
		goto out;
	r = KW_ERR_INVALID;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	r = 0;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return r;
}

static int jwks_rsa(const json_t *obj, EVP_PKEY **out, const char **why)
{
	uint8_t *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0, skip = 0;
	int r;

	*why = "RSA n or e missing or not base64url";
	r = member_bytes(obj, "n", &n, &nlen);
	if (r == 0)
		r = member_bytes(obj, "e", &e, &elen);
	if (r != 0)
		goto out;
	/* RFC 7518 6.3.1.1 forbids leading zero octets, but some issuers
	 * send them; the value is the same number either way. */
	while (skip < nlen && n[skip] == 0)
		skip++;
	r = KW_ERR_INVALID;
	*why = "RSA modulus or exponent out of range";
	if (nlen - skip > KW_AUTH_RSA_MAX_BITS / 8 || elen == 0 || elen > RSA_E_BYTES_MAX)
		goto out;
	r = rsa_pkey_build(n + skip, nlen - skip, e, elen, out);
	*why = "RSA key does not build";
out:
	free(n);
	free(e);
	return r;
}

static int ec_curve(const char *crv, const char **group, size_t *field)
{
	static const struct {
		const char *crv, *group;
		size_t field;
	} curves[] = {
	    {"P-256", "P-256", 32},
	    {"P-384", "P-384", 48},
	    {"P-521", "P-521", 66},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(curves); i++) {
		if (strcmp(crv, curves[i].crv) == 0) {
			*group = curves[i].group;
			*field = curves[i].field;
			return 0;
		}
	}
	return KW_ERR_UNSUPPORTED;
}

static int ec_pkey_build(const char *group, const uint8_t *point, size_t plen, EVP_PKEY **out)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	int r = KW_ERR_NOMEM;

	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, plen);
	params[2] = OSSL_PARAM_construct_end();
	r = KW_ERR_INVALID;
	/* Decoding the point checks that it is on the curve. */
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	r = 0;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return r;
}

static int jwks_ec(const json_t *obj, const char *group, size_t field, EVP_PKEY **out,
                   const char **why)
{
	uint8_t point[1 + 2 * EC_FIELD_BYTES_MAX];
	uint8_t *x = NULL, *y = NULL;
	size_t xlen = 0, ylen = 0;
	int r;

	*why = "EC x or y missing or not base64url";
	r = member_bytes(obj, "x", &x, &xlen);
	if (r == 0)
		r = member_bytes(obj, "y", &y, &ylen);
	if (r != 0)
		goto out;
	/* RFC 7518 6.2.1.2: each coordinate is exactly the field size. */
	r = KW_ERR_INVALID;
	*why = "EC coordinate has the wrong length";
	if (xlen != field || ylen != field)
		goto out;
	point[0] = 0x04;
	memcpy(point + 1, x, field);
	memcpy(point + 1 + field, y, field);
	*why = "EC point is not on the curve";
	r = ec_pkey_build(group, point, 1 + 2 * field, out);
out:
	free(x);
	free(y);
	return r;
}

enum jwks_verdict { JWKS_KEY, JWKS_UNKNOWN_KTY, JWKS_NOT_FOR_SIG };

/* The EVP_PKEY of one entry, or a verdict that it is to be skipped. */
static int jwks_entry_pkey(const json_t *obj, EVP_PKEY **pkey, enum jwks_verdict *v,
                           const char **why)
{
	const char *kty, *use, *crv, *group;
	size_t field;

	*v = JWKS_KEY;
	*why = "kty or use missing or not a string";
	if (member_string(obj, "kty", &kty) != 0 || kty == NULL ||
	    member_string(obj, "use", &use) != 0)
		return KW_ERR_INVALID;
	if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0) {
		*v = JWKS_UNKNOWN_KTY;
		return 0;
	}
	if (use != NULL && strcmp(use, "sig") != 0) {
		*v = JWKS_NOT_FOR_SIG;
		return 0;
	}
	if (strcmp(kty, "RSA") == 0)
		return jwks_rsa(obj, pkey, why);
	*why = "EC crv missing or not a string";
	if (member_string(obj, "crv", &crv) != 0 || crv == NULL)
		return KW_ERR_INVALID;
	if (ec_curve(crv, &group, &field) != 0) {
		*v = JWKS_NOT_FOR_SIG;
		return 0;
	}
	return jwks_ec(obj, group, field, pkey, why);
}

static int jwks_entry_key(const json_t *obj, struct auth_key *k, enum jwks_verdict *v,
                          const char **why)
{
	const char *kid, *alg;
	EVP_PKEY *pkey = NULL;
	int r;

	if (!json_is_object(obj)) {
		*why = "not an object";
		return KW_ERR_INVALID;
	}
	*why = "kid or alg not a string, or kid too long";
	if (member_string(obj, "kid", &kid) != 0 || member_string(obj, "alg", &alg) != 0 ||
	    (kid != NULL && strlen(kid) > KW_AUTH_KID_MAX))
		return KW_ERR_INVALID;
	r = jwks_entry_pkey(obj, &pkey, v, why);
	if (r != 0 || *v != JWKS_KEY)
		return r;
	r = key_from_pkey(pkey, kid != NULL ? kid : "", false, k, why);
	if (r == 0 && alg != NULL) {
		k->alg = kw_strdup(alg);
		if (k->alg == NULL)
			r = KW_ERR_NOMEM;
	}
	if (r != 0) {
		if (k->pkey == NULL)
			EVP_PKEY_free(pkey);
		auth_key_cleanup(k);
	}
	return r;
}

static int jwks_keys_array(const char *json, size_t len, json_t **doc, const json_t **arr,
                           const char **why)
{
	bool dup = false;
	int r;

	*why = "not a JSON object";
	r = auth_json_object((const uint8_t *)json, len, doc, &dup);
	if (r != 0) {
		if (dup)
			*why = "duplicate key in JSON";
		return r;
	}
	*arr = json_object_get(*doc, "keys");
	*why = "no \"keys\" array";
	if (!json_is_array(*arr))
		return KW_ERR_INVALID;
	*why = "too many keys";
	if (json_array_size(*arr) > KW_AUTH_KEYSET_KEYS_MAX)
		return KW_ERR_LIMIT;
	return 0;
}

/* Every entry of arr into keys[] (one slot per entry); err names a bad one. */
static int jwks_entries(const json_t *arr, struct auth_key *keys, size_t *n,
                        struct kw_auth_jwks_stats *st, char *err, size_t errlen)
{
	const char *why = NULL;
	int r;

	for (size_t i = 0; i < json_array_size(arr); i++) {
		enum jwks_verdict v;

		r = jwks_entry_key(json_array_get(arr, i), &keys[*n], &v, &why);
		if (r != 0) {
			auth_err(err, errlen, "JWKS keys[%zu]: %s", i, why);
			/* Whatever is wrong with an entry, the document is refused. */
			return r == KW_ERR_NOMEM ? r : KW_ERR_INVALID;
		}
		st->unknown_kty += v == JWKS_UNKNOWN_KTY;
		st->not_for_sig += v == JWKS_NOT_FOR_SIG;
		*n += v == JWKS_KEY;
	}
	st->added = (unsigned)*n;
	return 0;
}

int kw_auth_keyset_add_jwks(struct kw_auth_keyset *ks, const char *json, size_t len,
                            struct kw_auth_jwks_stats *stats, char *err, size_t errlen)
{
	struct kw_auth_jwks_stats st = {0};
	struct auth_key *keys = NULL;
	json_t *doc = NULL;
	const json_t *arr = NULL;
	const char *why = "document too large";
	size_t n = 0;
	int r = KW_ERR_TOO_LARGE;

	if (len > KEYSET_TEXT_MAX)
		goto out;
	r = jwks_keys_array(json, len, &doc, &arr, &why);
	if (r != 0)
		goto out;
	keys = calloc(json_array_size(arr) + 1, sizeof(*keys));
	why = "out of memory";
	r = KW_ERR_NOMEM;
	if (keys == NULL)
		goto out;
	r = jwks_entries(arr, keys, &n, &st, err, errlen);
	if (r != 0) {
		why = NULL; /* jwks_entries said which entry */
		goto out;
	}
	r = auth_keyset_append(ks, keys, n);
	keys = NULL;
	why = r == KW_ERR_INVALID ? "the key set is shared" : "too many keys";
	if (r == 0 && stats != NULL)
		*stats = st;
out:
	if (r != 0 && why != NULL)
		auth_err(err, errlen, "JWKS: %s", why);
	keys_free(keys, n);
	json_decref(doc);
	return r;
}
