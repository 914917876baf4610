/*
 * auth_k8s.c: the kubernetes auth method, as Vault's — config (the
 * cluster's keys: pem_keys, and keyward's jwks_url, jwks_file and OIDC
 * discovery of the issuer; issuer; TokenReview settings), roles binding
 * service-account names and namespaces (Vault's globs) and an audience,
 * and login {role, jwt} → a keyward token for "k8s:<namespace>/<name>"
 * that never outlives the service-account token.
 *
 * Verification is offline against the configured keys (RS256, PS256,
 * ES256, ES384 only; src/auth checks alg against the key). With
 * use_token_review, the API server is asked too (TokenReview over TLS
 * verified with kubernetes_ca_cert), so a token of a deleted pod stops
 * working before its exp.
 *
 * Legacy Secret-based tokens carry no exp; Vault accepts them and so do we,
 * but only in their legacy shape: a projected token without exp is refused.
 *
 * Secrets: the presented JWT and the token_reviewer_jwt are bearer
 * credentials. They go to the verifier and to the API server over TLS,
 * never into a log, an error or an IPC field; request bodies holding them
 * are wiped. libcurl keeps its own copy of the Authorization value, which
 * it frees without wiping — a limit of the library, noted here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "front_int.h"

#define HTTPS             "https://"
#define REVIEW_PATH       "/apis/authentication.k8s.io/v1/tokenreviews"
#define REVIEW_BYTES_MAX  (256u * 1024)
#define REVIEW_TIMEOUT_MS 10000L
#define SA_PREFIX         "system:serviceaccount:"

/* ---- config ---- */

static const char *const config_fields[] = {
    "kubernetes_host",
    "kubernetes_ca_cert",
    "pem_keys",
    "issuer",
    "disable_iss_validation",
    "disable_local_ca_jwt",
    "token_reviewer_jwt",
    "use_token_review",
    "jwks_url",
    "jwks_file",
    "jwks_ca_pem",
    "oidc_discovery",
    NULL,
};
static const char *const config_secret[] = {"token_reviewer_jwt", NULL};

static bool is_https(const char *s)
{
	return s != NULL && strncmp(s, HTTPS, strlen(HTTPS)) == 0 && s[strlen(HTTPS)] != '\0';
}

static const char *str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

static int config_sources(const json_t *o, struct kw_fail *f)
{
	const char *host = str_of(o, "kubernetes_host");
	const char *url = str_of(o, "jwks_url");
	const char *file = str_of(o, "jwks_file");
	const char *iss = str_of(o, "issuer");
	bool discover = json_is_true(json_object_get(o, "oidc_discovery"));
	bool review = json_is_true(json_object_get(o, "use_token_review"));

	if (host != NULL && !is_https(host))
		return kw_fail_set(f, KW_ERR_INVALID, "kubernetes_host must be an https:// URL");
	if (url != NULL && !is_https(url))
		return kw_fail_set(f, KW_ERR_INVALID, "jwks_url must be an https:// URL");
	if (file != NULL && file[0] != '/')
		return kw_fail_set(f, KW_ERR_INVALID, "jwks_file must be an absolute path");
	if (discover && !is_https(iss))
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "oidc_discovery needs an issuer that is an https:// URL");
	if (discover && url != NULL)
		return kw_fail_set(f, KW_ERR_INVALID, "give jwks_url or oidc_discovery, not both");
	if (review && host == NULL)
		return kw_fail_set(f, KW_ERR_INVALID, "use_token_review needs kubernetes_host");
	/* keyward verifies every token itself: some key source is required. */
	if (json_array_size(json_object_get(o, "pem_keys")) == 0 && url == NULL && file == NULL &&
	    !discover)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "configure the cluster's service-account keys: pem_keys, "
		                   "jwks_url, jwks_file or oidc_discovery");
	return 0;
}

static int k8s_config_norm(const json_t *in, json_t **out, struct kw_fail *f)
{
	static const char *const strs[] = {"kubernetes_host",    "kubernetes_ca_cert", "issuer",
	                                   "token_reviewer_jwt", "jwks_url",           "jwks_file",
	                                   "jwks_ca_pem"};
	static const char *const bools[] = {"disable_iss_validation", "disable_local_ca_jwt",
	                                    "use_token_review", "oidc_discovery"};
	json_t *o = json_object(), *pem = NULL;
	int err = KW_ERR_NOMEM;

	if (o == NULL)
		goto out;
	if ((err = kw_auth_fields_known(in, config_fields, f)) != 0)
		goto out;
	for (size_t i = 0; i < KW_ARRAY_LEN(strs); i++)
		if ((err = kw_auth_copy_str(in, strs[i], "", o, f)) != 0)
			goto out;
	for (size_t i = 0; i < KW_ARRAY_LEN(bools); i++)
		if ((err = kw_auth_copy_bool(in, bools[i], false, o, f)) != 0)
			goto out;
	if ((err = kw_auth_str_list(in, "pem_keys", &pem, f)) != 0 ||
	    (err = kw_jwt_pem_keys_check(pem, "pem_keys", f)) != 0)
		goto out;
	err = kw_jset(o, "pem_keys", pem);
	pem = NULL;
	if (err != 0 || (err = config_sources(o, f)) != 0)
		goto out;
	*out = o;
	o = NULL;
out:
	json_decref(pem);
	json_decref(o);
	return err;
}

/* ---- roles ---- */

static const char *const role_fields[] = {
    "bound_service_account_names",
    "bound_service_account_namespaces",
    "audience",
    "alias_name_source",
    NULL,
};

static bool role_field(const char *key)
{
	for (size_t i = 0; role_fields[i] != NULL; i++)
		if (strcmp(role_fields[i], key) == 0)
			return true;
	for (size_t i = 0; kw_auth_role_common_fields[i] != NULL; i++)
		if (strcmp(kw_auth_role_common_fields[i], key) == 0)
			return true;
	return false;
}

static bool only_star(const json_t *a)
{
	return json_array_size(a) == 1 && strcmp(json_string_value(json_array_get(a, 0)), "*") == 0;
}

static int bindings_norm(const json_t *in, json_t *o, struct kw_fail *f)
{
	json_t *names = NULL, *ns = NULL;
	int err;

	if ((err = kw_auth_str_list(in, "bound_service_account_names", &names, f)) != 0 ||
	    (err = kw_auth_str_list(in, "bound_service_account_namespaces", &ns, f)) != 0)
		goto out;
	/* Vault's rules: both lists given, and not both "*" (which would let
	 * every service account of the cluster in). */
	if (json_array_size(names) == 0)
		err = kw_fail_set(f, KW_ERR_INVALID,
		                  "\"bound_service_account_names\" can not be empty");
	else if (json_array_size(ns) == 0)
		err = kw_fail_set(f, KW_ERR_INVALID,
		                  "\"bound_service_account_namespaces\" can not be empty");
	else if (only_star(names) && only_star(ns))
		err = kw_fail_set(f, KW_ERR_INVALID,
		                  "service_account_names and service_account_namespaces can not "
		                  "both be \"*\"");
	if (err != 0)
		goto out;
	err = kw_jset(o, "bound_service_account_names", names);
	names = NULL;
	if (err == 0)
		err = kw_jset(o, "bound_service_account_namespaces", ns);
	ns = NULL;
out:
	json_decref(names);
	json_decref(ns);
	return err;
}

static int k8s_role_norm(const json_t *in, json_t **out, struct kw_fail *f)
{
	json_t *o = json_object();
	const char *src, *key;
	json_t *v;
	int err = KW_ERR_NOMEM;

	if (o == NULL)
		goto out;
	json_object_foreach((json_t *)in, key, v)
	{
		if (!role_field(key)) {
			err = kw_fail_set(f, KW_ERR_INVALID, "unknown field \"%.64s\"", key);
			goto out;
		}
	}
	if ((err = bindings_norm(in, o, f)) != 0 ||
	    (err = kw_auth_copy_str(in, "audience", "", o, f)) != 0 ||
	    (err = kw_jfield_str(in, "alias_name_source", false, &src, f)) != 0)
		goto out;
	if (src != NULL && src[0] != '\0' && strcmp(src, "serviceaccount_uid") != 0 &&
	    strcmp(src, "serviceaccount_name") != 0) {
		err = kw_fail_set(
		    f, KW_ERR_INVALID,
		    "alias_name_source must be serviceaccount_uid or serviceaccount_name");
		goto out;
	}
	if ((err = kw_jset(o, "alias_name_source",
	                   json_string(src && src[0] ? src : "serviceaccount_uid"))) != 0 ||
	    (err = kw_auth_role_common(in, o, f)) != 0)
		goto out;
	*out = o;
	o = NULL;
out:
	json_decref(o);
	return err;
}

/* ---- state: the cluster's keys ---- */

struct k8s_state {
	struct kw_jwt_keys keys;
};

static void k8s_state_free(void *p)
{
	struct k8s_state *st = p;

	if (st == NULL)
		return;
	kw_jwt_keys_cleanup(&st->keys);
	free(st);
}

static int k8s_state_new(struct kw_auth_mount *m, struct kw_fail *f)
{
	struct k8s_state *st = calloc(1, sizeof(*st));
	struct kw_jwt_keys_conf c = {0};
	int err;

	if (st == NULL)
		return KW_ERR_NOMEM;
	c.pem_keys = json_object_get(m->config, "pem_keys");
	c.jwks_url = str_of(m->config, "jwks_url");
	c.jwks_file = str_of(m->config, "jwks_file");
	if (json_is_true(json_object_get(m->config, "oidc_discovery")))
		c.discovery = str_of(m->config, "issuer");
	/* The issuer is usually the API server: trust its CA unless told. */
	c.ca_pem = str_of(m->config, "jwks_ca_pem");
	if (c.ca_pem == NULL)
		c.ca_pem = str_of(m->config, "kubernetes_ca_cert");
	if ((err = kw_jwt_keys_build(&c, &st->keys, f)) != 0) {
		k8s_state_free(st);
		return err;
	}
	m->state = st;
	return 0;
}

/* ---- TokenReview ---- */

struct body {
	struct kw_buf buf;
	bool too_large;
};

static size_t body_write(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	if (b->buf.len + len > REVIEW_BYTES_MAX || kw_buf_append(&b->buf, p, len) != 0) {
		b->too_large = true;
		return 0;
	}
	return len;
}

static int review_post(const json_t *cfg, const char *bearer, const char *body, size_t len,
                       struct body *resp, long *status)
{
	const char *ca = str_of(cfg, "kubernetes_ca_cert");
	struct curl_slist *hdr = NULL;
	char url[2048];
	CURL *c;
	CURLcode e = CURLE_OK;
	int n;

	n = snprintf(url, sizeof(url), "%s%s", str_of(cfg, "kubernetes_host"), REVIEW_PATH);
	if (n < 0 || (size_t)n >= sizeof(url))
		return KW_ERR_CONFIG;
	/* kubernetes_host may end in '/': the API server accepts "//apis". */
	if ((c = curl_easy_init()) == NULL)
		return KW_ERR_NOMEM;
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	e |= curl_easy_setopt(c, CURLOPT_URL, url);
	e |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	e |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	e |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	e |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca != NULL) {
		struct curl_blob blob = {
		    .data = (void *)ca, .len = strlen(ca), .flags = CURL_BLOB_COPY};

		e |= curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
		e |= curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	e |= curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
	e |= curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, bearer);
	e |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	e |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	e |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	e |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	e |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, REVIEW_TIMEOUT_MS);
	e |= curl_easy_setopt(c, CURLOPT_USERAGENT, "keyward");
	e |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	e |= curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	if (e == CURLE_OK && hdr != NULL)
		e = curl_easy_perform(c);
	if (e == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	return e == CURLE_OK ? 0 : KW_ERR_UNAVAILABLE;
}

/* Is the review's answer "authenticated, as exactly this service account"? */
static bool review_says_yes(const struct body *resp, const struct kw_auth_k8s *k)
{
	json_t *j =
	    json_loadb((const char *)resp->buf.data, resp->buf.len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *st = json_object_get(j, "status");
	const char *user =
	    json_string_value(json_object_get(json_object_get(st, "user"), "username"));
	char want[sizeof(SA_PREFIX) + KW_AUTH_K8S_NS_MAX + 1 + KW_AUTH_K8S_NAME_MAX + 1];
	bool yes;

	snprintf(want, sizeof(want), SA_PREFIX "%s:%s", k->namespace, k->service_account);
	yes = json_is_true(json_object_get(st, "authenticated")) && user != NULL &&
	      strcmp(user, want) == 0;
	json_decref(j);
	return yes;
}

/*
 * POST a TokenReview. 0 = the API server vouches for the token;
 * KW_ERR_AUTH = it does not; KW_ERR_UNAVAILABLE = it could not be asked.
 */
static int token_review(const json_t *cfg, const char *jwt, const char *aud,
                        const struct kw_auth_k8s *k)
{
	const char *reviewer = str_of(cfg, "token_reviewer_jwt");
	struct body resp = {0};
	json_t *req;
	char *text = NULL;
	size_t len;
	long status = 0;
	int err;

	req = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "authentication.k8s.io/v1", "kind",
	                "TokenReview", "spec", "token", jwt);
	if (req != NULL && aud != NULL &&
	    json_object_set_new(json_object_get(req, "spec"), "audiences", json_pack("[s]", aud)) !=
	        0) {
		json_decref(req);
		req = NULL;
	}
	if (req == NULL || (text = kw_json_text(req, &len)) == NULL) {
		json_decref(req);
		return KW_ERR_NOMEM;
	}
	json_decref(req);
	kw_buf_init(&resp.buf);
	/* Vault's rule: without a reviewer JWT, the token reviews itself. */
	err = review_post(cfg, reviewer ? reviewer : jwt, text, len, &resp, &status);
	if (err == 0 && status != 200 && status != 201)
		err = status == 401 || status == 403 ? KW_ERR_AUTH : KW_ERR_UNAVAILABLE;
	if (err == 0 && !review_says_yes(&resp, k))
		err = KW_ERR_AUTH;
	kw_json_text_free(text);
	kw_buf_cleanup(&resp.buf);
	return err;
}

/* ---- login ---- */

struct k8s_login {
	struct kw_req *r;
	struct kw_auth_mount *m;
	const char *role_name;
	const json_t *role;
	struct kw_auth_jwt *jwt;
	struct kw_auth_k8s k;
};

static int meta_build(const struct kw_auth_k8s *k, json_t **out);

/* Once the claims are read, the refusal names the pod in the audit entry. */
static int refuse(struct k8s_login *l, const char *reason, int err, const char *text)
{
	json_t *meta = NULL;
	int rc;

	if (l->k.identity[0] != '\0' && meta_build(&l->k, &meta) != 0)
		meta = NULL;
	rc = kw_login_refuse_meta(l->r, l->m, l->role_name, l->k.identity, meta, reason, err, text);
	json_decref(meta);
	return rc;
}

static int verify(struct k8s_login *l, const char *token, enum kw_auth_reason *why)
{
	struct k8s_state *st = l->m->state;
	const char *iss = str_of(l->m->config, "issuer");
	const char *aud = str_of(l->role, "audience");
	struct kw_auth_jwt_opts o;

	kw_auth_jwt_opts_init(&o);
	if (iss != NULL && !json_is_true(json_object_get(l->m->config, "disable_iss_validation"))) {
		o.issuers = &iss;
		o.nissuers = 1;
	}
	if (aud != NULL) {
		o.audiences = &aud;
		o.naudiences = 1;
	}
	/* Legacy Secret-based tokens have no exp (checked below). */
	o.allow_missing_exp = true;
	if (st == NULL) {
		*why = KW_AUTH_NO_KEYS;
		return KW_ERR_AUTH;
	}
	return kw_jwt_keys_verify(&st->keys, &o, token, strlen(token), kw_auth_now(), &l->jwt, why);
}

static int bindings(struct k8s_login *l)
{
	const char *names[KW_AUTH_LIST_MAX], *ns[KW_AUTH_LIST_MAX];
	size_t nn =
	    kw_auth_json_strs(l->role, "bound_service_account_names", names, KW_AUTH_LIST_MAX);
	size_t nns =
	    kw_auth_json_strs(l->role, "bound_service_account_namespaces", ns, KW_AUTH_LIST_MAX);

	if (!kw_auth_glob_match_any(names, nn, l->k.service_account))
		return refuse(l, "binding_mismatch", KW_ERR_DENIED,
		              "service account name not authorized");
	if (!kw_auth_glob_match_any(ns, nns, l->k.namespace))
		return refuse(l, "binding_mismatch", KW_ERR_DENIED, "namespace not authorized");
	return 0;
}

static int meta_build(const struct kw_auth_k8s *k, json_t **out)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "namespace", k->namespace, "service_account_name",
	                      k->service_account, "service_account_uid", k->service_account_uid);
	int err = 0;

	if (o == NULL)
		return KW_ERR_NOMEM;
	if (k->pod_name[0] != '\0')
		err |= kw_jset(o, "pod_name", json_string(k->pod_name));
	if (k->pod_uid[0] != '\0')
		err |= kw_jset(o, "pod_uid", json_string(k->pod_uid));
	if (k->secret_name[0] != '\0')
		err |= kw_jset(o, "service_account_secret_name", json_string(k->secret_name));
	if (err != 0) {
		json_decref(o);
		return KW_ERR_NOMEM;
	}
	*out = o;
	return 0;
}

static int login_body(struct kw_req *r, const char **role, const char **jwt)
{
	int err;

	if ((err = kw_jfield_str(r->body, "role", true, role, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "jwt", true, jwt, &r->fail)) != 0)
		return err;
	if ((*role)[0] == '\0')
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "missing required field \"role\"");
	if ((*jwt)[0] == '\0')
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"jwt\" is empty");
	return 0;
}

static int review_step(struct k8s_login *l, const char *token)
{
	int err;

	if (!json_is_true(json_object_get(l->m->config, "use_token_review")))
		return 0;
	err = token_review(l->m->config, token, str_of(l->role, "audience"), &l->k);
	if (err == KW_ERR_AUTH)
		return refuse(l, "token_review_denied", KW_ERR_AUTH,
		              "the Kubernetes API server did not confirm the token (TokenReview)");
	if (err != 0)
		return refuse(l, "token_review_unavailable", KW_ERR_AUTH,
		              "the Kubernetes API server could not be asked (TokenReview)");
	return 0;
}

static int k8s_login(struct kw_req *r, struct kw_auth_mount *m, struct kw_resp *out)
{
	struct k8s_login l = {.r = r, .m = m};
	const struct kw_auth_role *role;
	enum kw_auth_reason why;
	json_t *meta = NULL;
	const char *token;
	int err;

	if ((err = login_body(r, &l.role_name, &token)) != 0)
		return err;
	if ((role = kw_auth_role_find(m, l.role_name)) == NULL)
		return refuse(&l, "role_not_found", KW_ERR_DENIED, "no such role");
	l.role = role->json;
	if (verify(&l, token, &why) != 0)
		return refuse(&l, kw_auth_reason_code(why), KW_ERR_AUTH, kw_auth_reason_str(why));
	if ((err = kw_auth_k8s_from_jwt(l.jwt, &l.k, &why)) != 0) {
		l.k.identity[0] = '\0';
		err = refuse(&l, kw_auth_reason_code(why), KW_ERR_AUTH, kw_auth_reason_str(why));
		goto out;
	}
	if (kw_auth_ended(kw_auth_jwt_exp(l.jwt))) {
		err = refuse(&l, kw_auth_reason_code(KW_AUTH_EXPIRED), KW_ERR_AUTH,
		             kw_auth_reason_str(KW_AUTH_EXPIRED));
		goto out;
	}
	/* A projected token always has exp; only legacy ones may lack it. */
	if (kw_auth_jwt_exp(l.jwt) == 0 && !l.k.legacy) {
		err = refuse(&l, kw_auth_reason_code(KW_AUTH_EXP_MISSING), KW_ERR_AUTH,
		             kw_auth_reason_str(KW_AUTH_EXP_MISSING));
		goto out;
	}
	if ((err = bindings(&l)) != 0 || (err = review_step(&l, token)) != 0 ||
	    (err = meta_build(&l.k, &meta)) != 0)
		goto out;
	err = kw_login_finish(r, m, l.role_name, l.k.identity, meta,
	                      kw_auth_expires(kw_auth_jwt_exp(l.jwt)), out);
out:
	json_decref(meta);
	kw_auth_jwt_free(l.jwt);
	return err;
}

const struct kw_auth_method kw_auth_method_k8s = {
    .type = "kubernetes",
    .kind = KW_AUTH_KIND_K8S,
    .role_word = "role",
    .config_secret = config_secret,
    .config_norm = k8s_config_norm,
    .role_norm = k8s_role_norm,
    .state_new = k8s_state_new,
    .state_free = k8s_state_free,
    .login = k8s_login,
};
