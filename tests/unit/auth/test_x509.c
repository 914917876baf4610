/*
 * test_x509.c: kw_auth_cert_verify against certificates made here with
 * OpenSSL (no committed binaries): a CA and its SPIFFE leaf, a leaf of
 * another CA, expired and not-yet-valid leaves, a serverAuth-only leaf, an
 * intermediate chain, and malformed input. Its own program (test_auth_x509):
 * run one test with test_auth_x509 '/x509/expired'.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "auth_tests.h"

#define DAY        INT64_C(86400)
#define SPIFFE_API "spiffe://test.example/ns/payments/sa/api"
#define WHY_BYTES  200

/* A certificate, its key, and its DER. */
struct t_cert {
	X509 *x;
	EVP_PKEY *key;
	uint8_t *der;
	size_t len;
};

struct t_cert_spec {
	const char *cn;              /* NULL = no CN */
	const char *cn2;             /* a second CN, or NULL */
	bool ca;                     /* basicConstraints CA:TRUE */
	int64_t from, to;            /* validity, relative to T_NOW */
	const char *eku;             /* "clientAuth", "serverAuth", ... or NULL (none) */
	const char *san;             /* "URI:...,DNS:..." or NULL */
	const struct t_cert *issuer; /* NULL = self-signed */
};

static EVP_PKEY *key_new(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

static void ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static void name_set(X509 *x, const struct t_cert_spec *s)
{
	X509_NAME *n = X509_get_subject_name(x);

	assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	                                            (const unsigned char *)"keyward tests", -1, -1,
	                                            0),
	                 1);
	if (s->cn != NULL)
		assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
		                                            (const unsigned char *)s->cn, -1, -1,
		                                            0),
		                 1);
	if (s->cn2 != NULL)
		assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
		                                            (const unsigned char *)s->cn2, -1, -1,
		                                            0),
		                 1);
}

static void cert_make(struct t_cert *c, const struct t_cert_spec *s)
{
	static long serial = 1;
	X509 *issuer;
	EVP_PKEY *ikey;
	unsigned char *der = NULL;
	int len;

	memset(c, 0, sizeof(*c));
	c->key = key_new();
	assert_non_null(c->x = X509_new());
	assert_int_equal(X509_set_version(c->x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(c->x), serial++), 1);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(c->x), (time_t)(T_NOW + s->from)));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(c->x), (time_t)(T_NOW + s->to)));
	assert_int_equal(X509_set_pubkey(c->x, c->key), 1);
	name_set(c->x, s);
	issuer = s->issuer ? s->issuer->x : c->x;
	ikey = s->issuer ? s->issuer->key : c->key;
	assert_int_equal(X509_set_issuer_name(c->x, X509_get_subject_name(issuer)), 1);
	ext_add(c->x, issuer, NID_basic_constraints, s->ca ? "critical,CA:TRUE" : "CA:FALSE");
	ext_add(c->x, issuer, NID_key_usage,
	        s->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	ext_add(c->x, issuer, NID_subject_key_identifier, "hash");
	if (s->issuer != NULL)
		ext_add(c->x, issuer, NID_authority_key_identifier, "keyid:always");
	if (s->eku != NULL)
		ext_add(c->x, issuer, NID_ext_key_usage, s->eku);
	if (s->san != NULL)
		ext_add(c->x, issuer, NID_subject_alt_name, s->san);
	assert_true(X509_sign(c->x, ikey, EVP_sha256()) > 0);
	len = i2d_X509(c->x, &der);
	assert_true(len > 0);
	c->der = der;
	c->len = (size_t)len;
}

static void cert_free(struct t_cert *c)
{
	X509_free(c->x);
	EVP_PKEY_free(c->key);
	OPENSSL_free(c->der);
	memset(c, 0, sizeof(*c));
}

/* PEM of one or more certificates, malloc'd. */
static char *pem_of(const struct t_cert *const *certs, size_t n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long len;

	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(PEM_write_bio_X509(b, certs[i]->x), 1);
	len = BIO_get_mem_data(b, &p);
	assert_true(len > 0);
	out = calloc(1, (size_t)len + 1);
	assert_non_null(out);
	memcpy(out, p, (size_t)len);
	BIO_free(b);
	return out;
}

/* The CAs every test uses, made once per test (EC keys are cheap). */
struct t_pki {
	struct t_cert ca, other_ca;
	char *ca_pem, *other_pem;
};

static void pki_make(struct t_pki *p)
{
	const struct t_cert *one[1];

	cert_make(&p->ca, &(struct t_cert_spec){
	                      .cn = "test CA", .ca = true, .from = -30 * DAY, .to = 365 * DAY});
	cert_make(&p->other_ca, &(struct t_cert_spec){
	                            .cn = "test CA", .ca = true, .from = -DAY, .to = 365 * DAY});
	one[0] = &p->ca;
	p->ca_pem = pem_of(one, 1);
	one[0] = &p->other_ca;
	p->other_pem = pem_of(one, 1);
}

static void pki_free(struct t_pki *p)
{
	cert_free(&p->ca);
	cert_free(&p->other_ca);
	free(p->ca_pem);
	free(p->other_pem);
}

/* A client leaf of issuer with the given SAN and EKU, valid around T_NOW. */
static void leaf_make(struct t_cert *c, const struct t_cert *issuer, const char *cn,
                      const char *san, const char *eku)
{
	cert_make(
	    c,
	    &(struct t_cert_spec){
	        .cn = cn, .from = -DAY, .to = 30 * DAY, .eku = eku, .san = san, .issuer = issuer});
}

static int verify1(const struct t_cert *leaf, const char *ca_pem, int64_t now,
                   struct kw_auth_cert_id *id, char *why)
{
	const uint8_t *der[1] = {leaf->der};
	size_t len[1] = {leaf->len};

	return kw_auth_cert_verify(der, len, 1, ca_pem, now, id, why, WHY_BYTES);
}

/* Refused with KW_ERR_AUTH, a sentence containing want, and *id untouched. */
static void expect_refused(const uint8_t *const *der, const size_t *len, size_t n,
                           const char *ca_pem, int64_t now, const char *want)
{
	struct kw_auth_cert_id id;
	char why[WHY_BYTES];

	memset(&id, 0x5a, sizeof(id));
	assert_int_equal(kw_auth_cert_verify(der, len, n, ca_pem, now, &id, why, sizeof(why)),
	                 KW_ERR_AUTH);
	if (strstr(why, want) == NULL)
		fail_msg("reason '%s' does not say '%s'", why, want);
	/* Out-parameters are written only on success. */
	assert_int_equal(id.spiffe_id[0], 0x5a);
	assert_int_equal(id.sha256[0], 0x5a);
}

static void expect_refused1(const struct t_cert *leaf, const char *ca_pem, int64_t now,
                            const char *want)
{
	const uint8_t *der[1] = {leaf->der};
	size_t len[1] = {leaf->len};

	expect_refused(der, len, 1, ca_pem, now, want);
}

static void test_spiffe_leaf(void **state)
{
	struct t_pki p;
	struct t_cert leaf;
	struct kw_auth_cert_id id;
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);
	char want[65], why[WHY_BYTES];

	pki_make(&p);
	leaf_make(&leaf, &p.ca, "api", "URI:" SPIFFE_API, "clientAuth");
	assert_int_equal(verify1(&leaf, p.ca_pem, T_NOW, &id, why), 0);
	assert_string_equal(id.spiffe_id, SPIFFE_API);
	assert_string_equal(id.common_name, "api");
	assert_int_equal(id.not_after, T_NOW + 30 * DAY);
	/* The fingerprint, computed another way: X509_digest over the object. */
	assert_int_equal(X509_digest(leaf.x, EVP_sha256(), md, &mdlen), 1);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(want + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(id.sha256, want);
	cert_free(&leaf);
	pki_free(&p);
}

static void test_other_ca(void **state)
{
	struct t_pki p;
	struct t_cert leaf;

	pki_make(&p);
	/* Same issuer name as the trusted CA, another key: the name is not enough. */
	leaf_make(&leaf, &p.other_ca, "api", "URI:" SPIFFE_API, "clientAuth");
	expect_refused1(&leaf, p.ca_pem, T_NOW, "not issued by a trusted CA");
	/* Its own CA does trust it. */
	struct kw_auth_cert_id id;
	char why[WHY_BYTES];
	assert_int_equal(verify1(&leaf, p.other_pem, T_NOW, &id, why), 0);
	cert_free(&leaf);
	pki_free(&p);
}

static void test_self_signed_leaf(void **state)
{
	struct t_pki p;
	struct t_cert self;

	pki_make(&p);
	cert_make(&self, &(struct t_cert_spec){.cn = "api",
	                                       .from = -DAY,
	                                       .to = DAY,
	                                       .eku = "clientAuth",
	                                       .san = "URI:" SPIFFE_API});
	expect_refused1(&self, p.ca_pem, T_NOW, "not issued by a trusted CA");
	cert_free(&self);
	pki_free(&p);
}

static void test_expired(void **state)
{
	struct t_pki p;
	struct t_cert leaf;
	struct kw_auth_cert_id id;
	char why[WHY_BYTES];

	pki_make(&p);
	cert_make(&leaf, &(struct t_cert_spec){.cn = "api",
	                                       .from = -10 * DAY,
	                                       .to = -DAY,
	                                       .eku = "clientAuth",
	                                       .san = "URI:" SPIFFE_API,
	                                       .issuer = &p.ca});
	expect_refused1(&leaf, p.ca_pem, T_NOW, "expired");
	/* The caller's clock decides: within its dates it verifies. */
	assert_int_equal(verify1(&leaf, p.ca_pem, T_NOW - 2 * DAY, &id, why), 0);
	/* ... but the CA was not valid yet 40 days back. */
	expect_refused1(&leaf, p.ca_pem, T_NOW - 40 * DAY,
	                "a CA certificate of the client chain is not valid yet");
	cert_free(&leaf);
	pki_free(&p);
}

static void test_not_yet_valid(void **state)
{
	struct t_pki p;
	struct t_cert leaf;

	pki_make(&p);
	cert_make(
	    &leaf,
	    &(struct t_cert_spec){
	        .cn = "api", .from = DAY, .to = 10 * DAY, .eku = "clientAuth", .issuer = &p.ca});
	expect_refused1(&leaf, p.ca_pem, T_NOW, "client certificate not valid yet");
	cert_free(&leaf);
	pki_free(&p);
}

static void test_eku(void **state)
{
	struct t_pki p;
	struct t_cert server, none, both;
	struct kw_auth_cert_id id;
	char why[WHY_BYTES];

	pki_make(&p);
	leaf_make(&server, &p.ca, "api", "URI:" SPIFFE_API, "serverAuth");
	expect_refused1(&server, p.ca_pem, T_NOW, "extended key usage");
	/* No EKU at all: any use, client auth included (RFC 5280 4.2.1.12). */
	leaf_make(&none, &p.ca, "api", "URI:" SPIFFE_API, NULL);
	assert_int_equal(verify1(&none, p.ca_pem, T_NOW, &id, why), 0);
	leaf_make(&both, &p.ca, "api", NULL, "serverAuth,clientAuth");
	assert_int_equal(verify1(&both, p.ca_pem, T_NOW, &id, why), 0);
	cert_free(&server);
	cert_free(&none);
	cert_free(&both);
	pki_free(&p);
}

static void test_intermediate_chain(void **state)
{
	struct t_pki p;
	struct t_cert inter, leaf, expired_inter, leaf2;
	struct kw_auth_cert_id id;
	char why[WHY_BYTES];
	const struct t_cert *one[1];
	char *inter_pem;

	pki_make(&p);
	cert_make(&inter, &(struct t_cert_spec){.cn = "test intermediate",
	                                        .ca = true,
	                                        .from = -DAY,
	                                        .to = 100 * DAY,
	                                        .issuer = &p.ca});
	leaf_make(&leaf, &inter, "api", "URI:" SPIFFE_API, "clientAuth");
	{
		const uint8_t *der[2] = {leaf.der, inter.der};
		size_t len[2] = {leaf.len, inter.len};

		assert_int_equal(
		    kw_auth_cert_verify(der, len, 2, p.ca_pem, T_NOW, &id, why, sizeof(why)), 0);
		assert_string_equal(id.spiffe_id, SPIFFE_API);
		/* Another root does not trust it. */
		expect_refused(der, len, 2, p.other_pem, T_NOW, "not issued by a trusted CA");
	}
	/* Without its intermediate there is no path to the root. */
	expect_refused1(&leaf, p.ca_pem, T_NOW, "not issued by a trusted CA");
	/* A bundle holding the intermediate alone anchors it (partial chain). */
	one[0] = &inter;
	inter_pem = pem_of(one, 1);
	assert_int_equal(verify1(&leaf, inter_pem, T_NOW, &id, why), 0);

	/* An expired intermediate breaks the chain, whatever the leaf says. */
	cert_make(&expired_inter, &(struct t_cert_spec){.cn = "old intermediate",
	                                                .ca = true,
	                                                .from = -10 * DAY,
	                                                .to = -DAY,
	                                                .issuer = &p.ca});
	leaf_make(&leaf2, &expired_inter, "api", "URI:" SPIFFE_API, "clientAuth");
	{
		const uint8_t *der[2] = {leaf2.der, expired_inter.der};
		size_t len[2] = {leaf2.len, expired_inter.len};

		expect_refused(der, len, 2, p.ca_pem, T_NOW,
		               "a CA certificate of the client chain");
	}
	free(inter_pem);
	cert_free(&inter);
	cert_free(&leaf);
	cert_free(&expired_inter);
	cert_free(&leaf2);
	pki_free(&p);
}

static void test_issuer_not_ca(void **state)
{
	struct t_pki p;
	struct t_cert mid, leaf;

	pki_make(&p);
	/* A client leaf of the trusted CA cannot issue certificates itself. */
	leaf_make(&mid, &p.ca, "api", NULL, "clientAuth");
	leaf_make(&leaf, &mid, "evil", "URI:" SPIFFE_API, "clientAuth");
	{
		const uint8_t *der[2] = {leaf.der, mid.der};
		size_t len[2] = {leaf.len, mid.len};

		expect_refused(der, len, 2, p.ca_pem, T_NOW, "not a CA");
	}
	cert_free(&mid);
	cert_free(&leaf);
	pki_free(&p);
}

static void test_spiffe_rules(void **state)
{
	static const struct {
		const char *san, *want;
	} cases[] = {
	    {"URI:" SPIFFE_API, SPIFFE_API},
	    /* An X509-SVID has exactly one URI SAN: two make it no SVID. */
	    {"URI:" SPIFFE_API ",URI:spiffe://test.example/other", ""},
	    {"DNS:api.example,URI:" SPIFFE_API, SPIFFE_API},
	    {"URI:https://api.example/", ""},
	    {"URI:spiffe://Test.Example/ns/a", ""}, /* trust domain must be lower case */
	    {"URI:spiffe://test.example/ns/../sa", ""},
	    {"DNS:api.example", ""},
	    {NULL, ""},
	};
	struct t_pki p;
	char why[WHY_BYTES];

	pki_make(&p);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_cert leaf;
		struct kw_auth_cert_id id;

		leaf_make(&leaf, &p.ca, "api", cases[i].san, "clientAuth");
		assert_int_equal(verify1(&leaf, p.ca_pem, T_NOW, &id, why), 0);
		if (strcmp(id.spiffe_id, cases[i].want) != 0)
			fail_msg("SAN %s gave '%s'", cases[i].san ? cases[i].san : "(none)",
			         id.spiffe_id);
		assert_string_equal(id.common_name, "api");
		cert_free(&leaf);
	}
	pki_free(&p);
}

static void test_common_name(void **state)
{
	struct t_pki p;
	struct t_cert nocn, two, ctl;
	struct kw_auth_cert_id id;
	char why[WHY_BYTES];

	pki_make(&p);
	leaf_make(&nocn, &p.ca, NULL, "URI:" SPIFFE_API, "clientAuth");
	assert_int_equal(verify1(&nocn, p.ca_pem, T_NOW, &id, why), 0);
	assert_string_equal(id.common_name, "");
	assert_string_equal(id.spiffe_id, SPIFFE_API);
	cert_make(&two, &(struct t_cert_spec){.cn = "api",
	                                      .cn2 = "admin",
	                                      .from = -DAY,
	                                      .to = DAY,
	                                      .eku = "clientAuth",
	                                      .issuer = &p.ca});
	expect_refused1(&two, p.ca_pem, T_NOW, "more than one common name");
	/* A newline in a CN would forge log lines once it is an identity. */
	leaf_make(&ctl, &p.ca, "api\nlevel=admin", NULL, "clientAuth");
	expect_refused1(&ctl, p.ca_pem, T_NOW, "control characters");
	cert_free(&nocn);
	cert_free(&two);
	cert_free(&ctl);
	pki_free(&p);
}

static void test_bad_input(void **state)
{
	struct t_pki p;
	struct t_cert leaf;
	struct kw_auth_cert_id id;
	char why[WHY_BYTES];
	const uint8_t *der[KW_AUTH_CERT_CHAIN_MAX + 1];
	size_t len[KW_AUTH_CERT_CHAIN_MAX + 1];
	uint8_t *longer;
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};

	pki_make(&p);
	leaf_make(&leaf, &p.ca, "api", "URI:" SPIFFE_API, "clientAuth");
	for (size_t i = 0; i <= KW_AUTH_CERT_CHAIN_MAX; i++) {
		der[i] = leaf.der;
		len[i] = leaf.len;
	}
	expect_refused(der, len, 0, p.ca_pem, T_NOW, "no client certificate");
	expect_refused(der, len, KW_AUTH_CERT_CHAIN_MAX + 1, p.ca_pem, T_NOW, "too long");

	/* Trailing bytes after the certificate: not strict DER. */
	longer = malloc(leaf.len + 1);
	assert_non_null(longer);
	memcpy(longer, leaf.der, leaf.len);
	longer[leaf.len] = 0;
	der[0] = longer;
	len[0] = leaf.len + 1;
	expect_refused(der, len, 1, p.ca_pem, T_NOW, "not a valid DER certificate");
	/* Truncated. */
	der[0] = leaf.der;
	len[0] = leaf.len - 1;
	expect_refused(der, len, 1, p.ca_pem, T_NOW, "not a valid DER certificate");
	der[0] = junk;
	len[0] = sizeof(junk);
	expect_refused(der, len, 1, p.ca_pem, T_NOW, "not a valid DER certificate");
	/* A bad intermediate refuses the chain too. */
	der[0] = leaf.der;
	len[0] = leaf.len;
	der[1] = junk;
	len[1] = sizeof(junk);
	expect_refused(der, len, 2, p.ca_pem, T_NOW, "not a valid DER certificate");

	/* A bundle with no certificate is the caller's error, not the client's. */
	assert_int_equal(verify1(&leaf, "no PEM here", T_NOW, &id, why), KW_ERR_INVALID);
	assert_int_equal(verify1(&leaf, "", T_NOW, &id, why), KW_ERR_INVALID);
	assert_int_equal(verify1(&leaf, NULL, T_NOW, &id, why), KW_ERR_INVALID);
	/* No error left on OpenSSL's queue for the next caller on this thread. */
	assert_int_equal(ERR_peek_error(), 0);
	free(longer);
	cert_free(&leaf);
	pki_free(&p);
}

static void test_bundle_of_several(void **state)
{
	struct t_pki p;
	struct t_cert leaf;
	struct kw_auth_cert_id id;
	char why[WHY_BYTES];
	const struct t_cert *both[3];
	char *pem;

	pki_make(&p);
	leaf_make(&leaf, &p.ca, "api", "URI:" SPIFFE_API, "clientAuth");
	/* The trusted CA second in the bundle, and listed twice. */
	both[0] = &p.other_ca;
	both[1] = &p.ca;
	both[2] = &p.ca;
	pem = pem_of(both, 3);
	assert_int_equal(verify1(&leaf, pem, T_NOW, &id, why), 0);
	assert_string_equal(id.spiffe_id, SPIFFE_API);
	free(pem);
	cert_free(&leaf);
	pki_free(&p);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    KW_TEST("/x509/spiffe-leaf", test_spiffe_leaf),
	    KW_TEST("/x509/other-ca", test_other_ca),
	    KW_TEST("/x509/self-signed-leaf", test_self_signed_leaf),
	    KW_TEST("/x509/expired", test_expired),
	    KW_TEST("/x509/not-yet-valid", test_not_yet_valid),
	    KW_TEST("/x509/eku-client-auth", test_eku),
	    KW_TEST("/x509/intermediate-chain", test_intermediate_chain),
	    KW_TEST("/x509/issuer-not-ca", test_issuer_not_ca),
	    KW_TEST("/x509/spiffe-rules", test_spiffe_rules),
	    KW_TEST("/x509/common-name", test_common_name),
	    KW_TEST("/x509/bad-input", test_bad_input),
	    KW_TEST("/x509/bundle-of-several", test_bundle_of_several),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("auth_x509", tests, NULL, NULL);
}
