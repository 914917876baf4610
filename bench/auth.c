/*
 * auth.c: what the identity benchmarks need from keywardd — a kubernetes
 * auth mount (bench-k8s) trusting a throw-away RSA-2048 key made here, a
 * role granting a sign-only policy, and service-account tokens in exactly
 * the shape kube-apiserver issues (RS256, kid derived from the key, nested
 * "kubernetes.io" claims), signed with that key.
 *
 * Secrets: the key and the tokens are throw-away test credentials for a
 * throw-away daemon; the login token is kept only to be sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "bench.h"

#define K8S_MOUNT  "bench-k8s"
#define K8S_ISSUER "https://kubernetes.default.svc.cluster.local"
#define K8S_NS     "bench"
#define K8S_SA     "signer"
#define JSON_MAX   8192

/* PEM text as a JSON string body: newlines escaped, nothing else needed. */
static int pem_json(EVP_PKEY *k, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	size_t o = 0;
	int rc = KW_ERR_CRYPTO;

	if (!b || PEM_write_bio_PUBKEY(b, k) != 1)
		goto out;
	n = BIO_get_mem_data(b, &p);
	for (long i = 0; i < n; i++) {
		if (o + 3 >= cap)
			goto out;
		if (p[i] == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = p[i];
		}
	}
	out[o] = '\0';
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

/* kube-apiserver's kid: base64url(SHA-256(DER SubjectPublicKeyInfo)). */
static int kid_derive(EVP_PKEY *k, char out[64])
{
	unsigned char *der = NULL, md[32];
	int n = i2d_PUBKEY(k, &der);
	char *b64 = NULL;
	int rc = KW_ERR_CRYPTO;

	if (n <= 0 || EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1)
		goto out;
	if ((rc = kw_base64url_encode(md, sizeof(md), &b64)) < 0)
		goto out;
	b64[strcspn(b64, "=")] = '\0';
	rc = kw_strlcpy(out, b64, 64);
out:
	OPENSSL_free(der);
	free(b64);
	return rc;
}

static int b64u(const void *p, size_t n, char **out)
{
	int rc = kw_base64url_encode(p, n, out);

	if (rc == 0)
		(*out)[strcspn(*out, "=")] = '\0';
	return rc;
}

int bench_k8s_jwt(const struct bench_k8s *k, int64_t life, char **out)
{
	char header[256], payload[1024];
	char *h = NULL, *p = NULL, *s = NULL, *input = NULL, *tok = NULL;
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	int64_t now = kw_now();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = KW_ERR_NOMEM;

	snprintf(header, sizeof(header), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", k->kid);
	snprintf(payload, sizeof(payload),
	         "{\"aud\":[\"keyward\"],\"exp\":%lld,\"iat\":%lld,\"iss\":\"" K8S_ISSUER "\","
	         "\"kubernetes.io\":{\"namespace\":\"" K8S_NS "\",\"pod\":{\"name\":\"" K8S_SA
	         "-6f7d9c8b5-q2w4e\",\"uid\":\"0b9e3c1a-5d2f-4e8a-9c7b-1a2b3c4d5e6f\"},"
	         "\"serviceaccount\":{\"name\":\"" K8S_SA "\",\"uid\":"
	         "\"7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f\"}},\"nbf\":%lld,"
	         "\"sub\":\"system:serviceaccount:" K8S_NS ":" K8S_SA "\"}",
	         (long long)(now + life), (long long)now, (long long)now);
	if (!md || b64u(header, strlen(header), &h) < 0 || b64u(payload, strlen(payload), &p) < 0 ||
	    asprintf(&input, "%s.%s", h, p) < 0)
		goto out;
	rc = KW_ERR_CRYPTO;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, strlen(input)) != 1)
		goto out;
	rc = KW_ERR_NOMEM;
	if (b64u(sig, siglen, &s) < 0 || asprintf(&tok, "%s.%s", input, s) < 0)
		goto out;
	*out = tok;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(h);
	free(p);
	free(s);
	free(input);
	return rc;
}

/* A setup request; "already exists" is fine (a kept daemon). */
static int setup_call(const struct bench_client *c, const char *token, const char *method,
                      const char *path, const char *body, struct bench_response *resp)
{
	int rc = bench_request_once(c, method, path, token, body, resp);

	if (rc < 0)
		return rc;
	if (resp->status / 100 == 2 ||
	    (resp->body.data && strstr((const char *)resp->body.data, "already_exists")))
		return 0;
	fprintf(stderr, "keyward-bench: %s %s: HTTP %d %s\n", method, path, resp->status,
	        resp->body.data ? (const char *)resp->body.data : "");
	return KW_ERR_INVALID;
}

static int login(const struct bench_client *c, struct bench_k8s *k, struct bench_response *resp)
{
	char body[JSON_MAX], *jwt = NULL;
	const char *t, *end;
	int rc;

	if ((rc = bench_k8s_jwt(k, 3600, &jwt)) < 0)
		return rc;
	snprintf(body, sizeof(body), "{\"role\":\"bench\",\"jwt\":\"%s\"}", jwt);
	free(jwt);
	rc = setup_call(c, NULL, "POST", "/v1/auth/" K8S_MOUNT "/login", body, resp);
	if (rc < 0)
		return rc;
	t = resp->body.data ? strstr((const char *)resp->body.data, "\"client_token\":\"") : NULL;
	if (!t)
		return KW_ERR_INVALID;
	t += strlen("\"client_token\":\"");
	end = strchr(t, '"');
	if (!end || !(k->token = strndup(t, (size_t)(end - t))))
		return KW_ERR_NOMEM;
	return 0;
}

int bench_k8s_setup(const struct bench_client *c, const char *root_token, struct bench_k8s *out)
{
	struct bench_k8s k = {0};
	struct bench_response resp;
	char pem[2048], body[JSON_MAX];
	int rc = KW_ERR_CRYPTO;

	bench_response_init(&resp);
	if (!(k.key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) ||
	    pem_json(k.key, pem, sizeof(pem)) < 0 || kid_derive(k.key, k.kid) < 0)
		goto out;
	snprintf(body, sizeof(body),
	         "{\"policy\":\"{\\\"path\\\":{\\\"transit/sign/bench-ecdsa-p256\\\":"
	         "{\\\"capabilities\\\":[\\\"update\\\"]}}}\"}");
	if ((rc = setup_call(c, root_token, "POST", "/v1/sys/policies/acl/bench-signer", body,
	                     &resp)) < 0 ||
	    (rc = setup_call(c, root_token, "POST", "/v1/sys/auth/" K8S_MOUNT,
	                     "{\"type\":\"kubernetes\"}", &resp)) < 0)
		goto out;
	snprintf(body, sizeof(body), "{\"pem_keys\":[\"%s\"],\"issuer\":\"" K8S_ISSUER "\"}", pem);
	if ((rc = setup_call(c, root_token, "POST", "/v1/auth/" K8S_MOUNT "/config", body, &resp)) <
	    0)
		goto out;
	snprintf(body, sizeof(body),
	         "{\"bound_service_account_names\":[\"" K8S_SA "\"],"
	         "\"bound_service_account_namespaces\":[\"" K8S_NS "\"],\"audience\":\"keyward\","
	         "\"token_policies\":[\"bench-signer\"],\"token_ttl\":\"1h\"}");
	if ((rc = setup_call(c, root_token, "POST", "/v1/auth/" K8S_MOUNT "/role/bench", body,
	                     &resp)) < 0 ||
	    (rc = login(c, &k, &resp)) < 0)
		goto out;
	*out = k;
	memset(&k, 0, sizeof(k));
out:
	bench_response_cleanup(&resp);
	bench_k8s_cleanup(&k);
	return rc;
}

void bench_k8s_cleanup(struct bench_k8s *k)
{
	EVP_PKEY_free(k->key);
	if (k->token) {
		OPENSSL_cleanse(k->token, strlen(k->token));
		free(k->token);
	}
	memset(k, 0, sizeof(*k));
}
