/*
 * x509.c: client certificates for the cert method — the chain a TLS client
 * presented, verified with OpenSSL against a CA bundle at a given time, and
 * what it says: the SPIFFE ID of an X509-SVID, the subject CN, the leaf's
 * expiry and fingerprint.
 *
 * The TLS layer (GnuTLS in the front) only proved that the client holds the
 * leaf's private key; whether the chain is trusted is decided here, once per
 * CA bundle, so each role of the cert method can trust its own CAs.
 * Certificates are public: nothing here is secret, but no error ever quotes
 * certificate bytes either — a refusal is one fixed sentence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "auth_int.h"

#define CERT_DER_MAX (64u * 1024) /* a larger certificate is not a client's */

/* Refuse with a fixed sentence; *why is for a person and the audit log. */
static int refuse(char *why, size_t whylen, const char *text)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", text);
	return KW_ERR_AUTH;
}

/* Every certificate of a PEM bundle into a new store. */
static int store_load(const char *ca_pem, X509_STORE **out)
{
	X509_STORE *st = NULL;
	BIO *bio = NULL;
	X509 *x;
	size_t n = 0;
	int err = KW_ERR_NOMEM;

	if (ca_pem == NULL)
		return KW_ERR_INVALID;
	if ((st = X509_STORE_new()) == NULL || (bio = BIO_new_mem_buf(ca_pem, -1)) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(st, x);

		X509_free(x);
		/* A duplicate in the bundle is harmless; anything else is not. */
		if (!ok &&
		    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_CERT_ALREADY_IN_HASH_TABLE)
			goto out;
		n++;
	}
	if (n == 0) {
		err = KW_ERR_INVALID;
		goto out;
	}
	*out = st;
	st = NULL;
	err = 0;
out:
	/* The loop always ends on "no start line"; leave no error behind. */
	ERR_clear_error();
	BIO_free(bio);
	X509_STORE_free(st);
	return err;
}

/* Strict DER: the whole buffer, one certificate. */
static X509 *der_parse(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (der == NULL || len == 0 || len > CERT_DER_MAX)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != der + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int chain_parse(const uint8_t *const *der, const size_t *len, size_t n, X509 **leaf,
                       STACK_OF(X509) * *rest)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *l = NULL;
	int err = KW_ERR_NOMEM;

	if (sk == NULL)
		goto out;
	err = KW_ERR_AUTH;
	if ((l = der_parse(der[0], len[0])) == NULL)
		goto out;
	for (size_t i = 1; i < n; i++) {
		X509 *x = der_parse(der[i], len[i]);

		if (x == NULL)
			goto out;
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			err = KW_ERR_NOMEM;
			goto out;
		}
	}
	*leaf = l;
	*rest = sk;
	l = NULL;
	sk = NULL;
	err = 0;
out:
	X509_free(l);
	sk_X509_pop_free(sk, X509_free);
	return err;
}

/* Sentences for the verification errors a client can cause. */
static const char *verify_error_text(int e, int depth)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return depth == 0 ? "client certificate expired"
		                  : "a CA certificate of the client chain expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return depth == 0 ? "client certificate not valid yet"
		                  : "a CA certificate of the client chain is not valid yet";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "client certificate is not issued by a trusted CA";
	case X509_V_ERR_INVALID_PURPOSE:
		return "client certificate is not for TLS client authentication (extended key "
		       "usage)";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "client certificate chain has an invalid signature";
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		return "client certificate chain is too long";
	case X509_V_ERR_INVALID_CA:
		return "client certificate chain has a certificate that is not a CA";
	default:
		return "client certificate chain did not verify";
	}
}

/*
 * A path to an anchor of st, every certificate within its dates at now, and
 * the leaf fit for TLS client authentication.
 */
static int chain_verify(X509_STORE *st, X509 *leaf, STACK_OF(X509) * rest, int64_t now, char *why,
                        size_t whylen)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	int err = KW_ERR_NOMEM;

	if (ctx == NULL || !X509_STORE_CTX_init(ctx, st, leaf, rest))
		goto out;
	vp = X509_STORE_CTX_get0_param(ctx);
	/* The caller's clock, so tests can check expiry (sets USE_CHECK_TIME). */
	X509_VERIFY_PARAM_set_time(vp, (time_t)now);
	X509_VERIFY_PARAM_set_depth(vp, KW_AUTH_CERT_CHAIN_MAX);
	/*
	 * PARTIAL_CHAIN: any certificate of the bundle is an anchor, so a role
	 * may trust an intermediate CA (or pin one leaf), as Vault's cert
	 * method allows; the bundle is the operator's explicit choice.
	 */
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
	/*
	 * SSL client purpose: an EKU, when present, must include clientAuth
	 * (RFC 5280 section 4.2.1.12), so a server certificate cannot log in.
	 */
	if (!X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT))
		goto out;
	if (X509_verify_cert(ctx) != 1) {
		err = refuse(why, whylen,
		             verify_error_text(X509_STORE_CTX_get_error(ctx),
		                               X509_STORE_CTX_get_error_depth(ctx)));
		goto out;
	}
	err = 0;
out:
	X509_STORE_CTX_free(ctx);
	return err;
}

/* Printable ASCII or UTF-8, no NUL or control characters (the CN reaches
 * identities and log lines). */
static bool text_clean(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* The subject's one CN, or "" when there is none. Two CNs are refused: the
 * identity "cert:<CN>" must not depend on which one a reader picks. */
static int leaf_cn(X509 *leaf, char *out, size_t outlen, char *why, size_t whylen)
{
	const X509_NAME *name = X509_get_subject_name(leaf);
	unsigned char *utf8 = NULL;
	int i, n, err;

	out[0] = '\0';
	if ((i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
		return 0;
	if (X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return refuse(why, whylen, "client certificate has more than one common name");
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n < 0)
		return refuse(why, whylen, "client certificate common name is not text");
	if ((size_t)n >= outlen || !text_clean(utf8, (size_t)n)) {
		err =
		    refuse(why, whylen,
		           "client certificate common name is too long or has control characters");
	} else {
		memcpy(out, utf8, (size_t)n);
		out[n] = '\0';
		err = 0;
	}
	OPENSSL_free(utf8);
	return err;
}

/* One URI SAN that is a valid SPIFFE ID, else "" (SPIFFE X509-SVID
 * specification, section 2: exactly one URI SAN). */
static int leaf_spiffe_id(X509 *leaf, char *out, size_t outlen, char *why, size_t whylen)
{
	GENERAL_NAMES *gens;
	const ASN1_IA5STRING *uri = NULL;
	int crit = -1, nuri = 0;

	out[0] = '\0';
	gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		/* -1: no SAN at all; -2: several SAN extensions; else malformed. */
		if (crit == -1)
			return 0;
		return refuse(why, whylen, "client certificate has a malformed subject alt name");
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_URI) {
			uri = g->d.uniformResourceIdentifier;
			nuri++;
		}
	}
	if (nuri == 1) {
		const unsigned char *s = ASN1_STRING_get0_data(uri);
		size_t n = (size_t)ASN1_STRING_length(uri);

		/* memchr: a NUL inside the IA5String must not cut the ID short. */
		if (n < outlen && memchr(s, '\0', n) == NULL) {
			memcpy(out, s, n);
			out[n] = '\0';
			if (kw_auth_spiffe_id_check(out) != 0)
				out[0] = '\0';
		}
	}
	GENERAL_NAMES_free(gens);
	return 0;
}

static int leaf_not_after(X509 *leaf, int64_t *out)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm))
		return KW_ERR_AUTH;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int der_sha256_hex(const uint8_t *der, size_t len, char out[2 * 32 + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return KW_ERR_CRYPTO;
	for (unsigned i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * mdlen] = '\0';
	return 0;
}

static int leaf_describe(X509 *leaf, const uint8_t *der, size_t len, struct kw_auth_cert_id *id,
                         char *why, size_t whylen)
{
	int err;

	if ((err = leaf_spiffe_id(leaf, id->spiffe_id, sizeof(id->spiffe_id), why, whylen)) != 0 ||
	    (err = leaf_cn(leaf, id->common_name, sizeof(id->common_name), why, whylen)) != 0)
		return err;
	if (leaf_not_after(leaf, &id->not_after) != 0)
		return refuse(why, whylen, "client certificate has an unreadable expiry date");
	return der_sha256_hex(der, len, id->sha256);
}

int kw_auth_cert_verify(const uint8_t *const *der, const size_t *len, size_t n, const char *ca_pem,
                        int64_t now, struct kw_auth_cert_id *out, char *why, size_t whylen)
{
	struct kw_auth_cert_id *id = NULL;
	STACK_OF(X509) *rest = NULL;
	X509_STORE *st = NULL;
	X509 *leaf = NULL;
	int err;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (n == 0 || der == NULL || len == NULL)
		return refuse(why, whylen, "no client certificate");
	if (n > KW_AUTH_CERT_CHAIN_MAX)
		return refuse(why, whylen, "client certificate chain is too long");
	if ((err = store_load(ca_pem, &st)) != 0) {
		if (err == KW_ERR_INVALID && why != NULL && whylen > 0)
			snprintf(why, whylen, "the CA bundle holds no PEM certificate");
		return err;
	}
	if ((err = chain_parse(der, len, n, &leaf, &rest)) != 0) {
		if (err == KW_ERR_AUTH)
			refuse(why, whylen, "client certificate is not a valid DER certificate");
		goto out;
	}
	if ((err = chain_verify(st, leaf, rest, now, why, whylen)) != 0)
		goto out;
	/* Large (the SPIFFE ID has room for 2 KiB): on the heap, not the stack. */
	if ((id = calloc(1, sizeof(*id))) == NULL) {
		err = KW_ERR_NOMEM;
		goto out;
	}
	if ((err = leaf_describe(leaf, der[0], len[0], id, why, whylen)) != 0)
		goto out;
	*out = *id;
out:
	free(id);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	X509_STORE_free(st);
	ERR_clear_error();
	return err;
}
