/*
 * auth_jwt.c: the jwt auth method (Vault's, role_type "jwt" only) — any
 * OIDC issuer's tokens: Azure AD workload identity, GitHub Actions, GitLab,
 * SPIRE JWT-SVIDs — and the verification keys of one issuer, which the
 * kubernetes method shares.
 *
 * A mount has one issuer in Vault's fields (jwt_validation_pubkeys,
 * jwks_url, oidc_discovery_url, bound_issuer) and/or several in keyward's
 * "issuers" list; each issuer's keys are built once per mount load (kept
 * in the mount cache). A token is tried against each issuer with that
 * issuer's iss required, so keys of one issuer never vouch for another's
 * tokens. Roles bind audiences, subject and claims (exact or glob); the
 * identity is "jwt:<mount>/<user_claim>", and claim_mappings copy claims
 * into the token's metadata and the audit entries.
 *
 * Secrets: the presented JWT is a bearer credential; it goes to the
 * verifier and nowhere else. Claims are public (they go to the audit log).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "front_int.h"

#define ISSUERS_MAX     16
#define HTTPS           "https://"
#define CLAIM_VALUE_MAX 512

/* ---- one issuer's keys ---- */

int kw_jwt_pem_keys_check(const json_t *pem_keys, const char *field, struct kw_fail *f)
{
	struct kw_auth_keyset *ks = NULL;
	char why[KW_AUTH_ERR_BYTES] = "";
	const json_t *e;
	size_t i;
	int err;

	if ((err = kw_auth_keyset_new(&ks)) != 0)
		return err;
	json_array_foreach(pem_keys, i, e)
	{
		const char *pem = json_string_value(e);

		if ((err = kw_auth_keyset_add_pem(ks, pem, strlen(pem), NULL, why, sizeof(why))) !=
		    0) {
			err = kw_fail_set(f, KW_ERR_INVALID, "field \"%s\", entry %zu: %s", field,
			                  i, why[0] ? why : "not a usable public key");
			break;
		}
	}
	kw_auth_keyset_free(ks);
	return err;
}

/* A public document on this host (a JWKS file), bounded. */
static int file_read(const char *path, struct kw_buf *out)
{
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return KW_ERR_IO;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = KW_ERR_IO;
			break;
		}
		if (out->len + (size_t)n > KW_AUTH_JWKS_BYTES_MAX) {
			err = KW_ERR_TOO_LARGE;
			break;
		}
		if ((err = kw_buf_append(out, chunk, (size_t)n)) != 0)
			break;
	}
	close(fd);
	return err;
}

static int keys_static(const struct kw_jwt_keys_conf *c, struct kw_jwt_keys *k, struct kw_fail *f)
{
	char why[KW_AUTH_ERR_BYTES] = "";
	struct kw_buf doc;
	const json_t *e;
	size_t i;
	int err;

	if ((c->pem_keys == NULL || json_array_size(c->pem_keys) == 0) && c->jwks_file == NULL)
		return 0;
	if ((err = kw_auth_keyset_new(&k->ks)) != 0)
		return err;
	json_array_foreach(c->pem_keys, i, e)
	{
		const char *pem = json_string_value(e);

		if ((err = kw_auth_keyset_add_pem(k->ks, pem, strlen(pem), NULL, why,
		                                  sizeof(why))) != 0)
			return kw_fail_set(f, KW_ERR_INVALID,
			                   "a configured PEM key is unusable: %s", why);
	}
	if (c->jwks_file == NULL)
		return 0;
	kw_buf_init(&doc);
	err = file_read(c->jwks_file, &doc);
	if (err == 0)
		err = kw_auth_keyset_add_jwks(k->ks, (const char *)doc.data, doc.len, NULL, why,
		                              sizeof(why));
	kw_buf_cleanup(&doc);
	if (err != 0)
		return kw_fail_set(f, KW_ERR_INVALID, "jwks_file cannot be used: %s",
		                   why[0] ? why : kw_err_str(err));
	return 0;
}

int kw_jwt_keys_build(const struct kw_jwt_keys_conf *c, struct kw_jwt_keys *out, struct kw_fail *f)
{
	struct kw_jwt_keys k = {0};
	struct kw_auth_jwks_conf jc;
	char *discovered = NULL;
	int err;

	if ((err = keys_static(c, &k, f)) != 0)
		goto out;
	kw_auth_jwks_conf_init(&jc);
	jc.ca_pem = c->ca_pem;
	jc.url = c->jwks_url;
	if (jc.url == NULL && c->discovery != NULL) {
		err = kw_auth_oidc_discover(c->discovery, c->ca_pem, jc.timeout_ms, &discovered);
		if (err != 0) {
			err = kw_fail_set(f, KW_ERR_UNAVAILABLE,
			                  "OIDC discovery of the issuer's keys failed: %s",
			                  kw_err_str(err));
			goto out;
		}
		jc.url = discovered;
	}
	if (jc.url != NULL && (err = kw_auth_jwks_source_new(&jc, &k.src)) != 0) {
		err = kw_fail_set(f, KW_ERR_INVALID, "the JWKS URL is not usable (https:// only)");
		goto out;
	}
	*out = k;
	memset(&k, 0, sizeof(k));
out:
	free(discovered);
	kw_jwt_keys_cleanup(&k);
	return err;
}

void kw_jwt_keys_cleanup(struct kw_jwt_keys *k)
{
	kw_auth_keyset_free(k->ks);
	kw_auth_jwks_source_free(k->src);
	memset(k, 0, sizeof(*k));
}

/* Reasons that say "not these keys", after which another source may try. */
static bool other_keys_may(enum kw_auth_reason why)
{
	return why == KW_AUTH_NO_KEYS || why == KW_AUTH_KID_UNKNOWN || why == KW_AUTH_SIG_INVALID ||
	       why == KW_AUTH_ALG_KEY_MISMATCH || why == KW_AUTH_SIG_LENGTH;
}

int kw_jwt_keys_verify(struct kw_jwt_keys *k, const struct kw_auth_jwt_opts *o, const char *token,
                       size_t len, int64_t now, struct kw_auth_jwt **out, enum kw_auth_reason *why)
{
	int err = KW_ERR_AUTH;

	*why = KW_AUTH_NO_KEYS;
	if (k->ks != NULL) {
		err = kw_auth_jwt_verify(k->ks, o, token, len, now, out, why);
		if (err == 0 || k->src == NULL || !other_keys_may(*why))
			return err;
	}
	if (k->src != NULL)
		err = kw_auth_jwks_source_verify(k->src, o, token, len, now, out, why);
	return err;
}

/* ---- config ---- */

static const char *const config_fields[] = {
    "jwt_validation_pubkeys",
    "jwks_url",
    "jwks_ca_pem",
    "oidc_discovery_url",
    "oidc_discovery_ca_pem",
    "bound_issuer",
    "jwt_supported_algs",
    "default_role",
    "issuers",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_response_mode",
    "oidc_response_types",
    "namespace_in_state",
    "provider_config",
    NULL,
};

static int https_field(const json_t *o, const char *key, struct kw_fail *f)
{
	const char *s;
	int err;

	if ((err = kw_jfield_str(o, key, false, &s, f)) != 0)
		return err;
	if (s != NULL && s[0] != '\0' &&
	    (strncmp(s, HTTPS, strlen(HTTPS)) != 0 || s[strlen(HTTPS)] == '\0'))
		return kw_fail_set(f, KW_ERR_INVALID, "field \"%s\" must be an https:// URL", key);
	return 0;
}

/* Fields of an issuer (top level or one "issuers" entry) into out;
 * *has_keys says whether it named a key source. */
static int issuer_norm(const json_t *in, const char *iss_key, json_t *out, bool *has_keys,
                       struct kw_fail *f)
{
	static const char *const strs[] = {"jwks_url", "oidc_discovery_url", "jwks_ca_pem",
	                                   "oidc_discovery_ca_pem"};
	json_t *pem = NULL;
	int n = 0, err;

	if ((err = kw_auth_copy_str(in, iss_key, "", out, f)) != 0 ||
	    (err = https_field(in, "jwks_url", f)) != 0 ||
	    (err = https_field(in, "oidc_discovery_url", f)) != 0)
		return err;
	for (size_t i = 0; i < KW_ARRAY_LEN(strs); i++)
		if ((err = kw_auth_copy_str(in, strs[i], "", out, f)) != 0)
			return err;
	if ((err = kw_auth_str_list(in, "jwt_validation_pubkeys", &pem, f)) != 0)
		return err;
	if ((err = kw_jwt_pem_keys_check(pem, "jwt_validation_pubkeys", f)) != 0) {
		json_decref(pem);
		return err;
	}
	n += json_array_size(pem) > 0;
	if ((err = kw_jset(out, "jwt_validation_pubkeys", pem)) != 0)
		return err;
	n += json_string_length(json_object_get(out, "jwks_url")) > 0;
	n += json_string_length(json_object_get(out, "oidc_discovery_url")) > 0;
	/* Vault: exactly one way to find an issuer's keys. */
	if (n > 1)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "give only one of jwt_validation_pubkeys, jwks_url and "
		                   "oidc_discovery_url per issuer");
	*has_keys = n == 1;
	return 0;
}

static int issuers_norm(const json_t *in, json_t *out, struct kw_fail *f)
{
	static const char *const known[] = {"issuer",
	                                    "jwks_url",
	                                    "jwks_ca_pem",
	                                    "oidc_discovery_url",
	                                    "oidc_discovery_ca_pem",
	                                    "jwt_validation_pubkeys",
	                                    NULL};
	const json_t *v = json_object_get(in, "issuers"), *e;
	json_t *a = json_array();
	size_t i;
	int err = 0;

	if (a == NULL)
		return KW_ERR_NOMEM;
	if (v != NULL && !json_is_null(v) &&
	    (!json_is_array(v) || json_array_size(v) > ISSUERS_MAX))
		err = kw_fail_set(f, KW_ERR_INVALID,
		                  "field \"issuers\" must be a list of at most %d objects",
		                  ISSUERS_MAX);
	json_array_foreach(v, i, e)
	{
		json_t *one;
		bool keys;

		if (err != 0)
			break;
		if (!json_is_object(e)) {
			err = kw_fail_set(f, KW_ERR_INVALID,
			                  "field \"issuers\": entry %zu is not an object", i);
			break;
		}
		if ((one = json_object()) == NULL || json_array_append_new(a, one) != 0) {
			err = KW_ERR_NOMEM;
			break;
		}
		if ((err = kw_auth_fields_known(e, known, f)) != 0 ||
		    (err = issuer_norm(e, "issuer", one, &keys, f)) != 0)
			break;
		if (json_string_length(json_object_get(one, "issuer")) == 0 || !keys)
			err = kw_fail_set(f, KW_ERR_INVALID,
			                  "field \"issuers\": entry %zu needs an issuer and one of "
			                  "jwt_validation_pubkeys, jwks_url and oidc_discovery_url",
			                  i);
	}
	if (err != 0) {
		json_decref(a);
		return err;
	}
	return kw_jset(out, "issuers", a);
}

static int config_refusals(const json_t *in, struct kw_fail *f)
{
	static const char *const oidc[] = {"oidc_client_id", "oidc_client_secret",
	                                   "oidc_response_mode", "oidc_response_types",
	                                   "provider_config"};
	json_t *algs;
	const json_t *e;
	size_t i;
	int err;

	for (size_t k = 0; k < KW_ARRAY_LEN(oidc); k++) {
		const json_t *v = json_object_get(in, oidc[k]);

		if (v != NULL && !json_is_null(v) &&
		    !(json_is_string(v) && json_string_length(v) == 0) &&
		    !(json_is_array(v) && json_array_size(v) == 0) &&
		    !(json_is_object(v) && json_object_size(v) == 0))
			return kw_fail_set(
			    f, KW_ERR_UNSUPPORTED,
			    "field \"%s\": the OIDC login flow is not supported; use "
			    "role_type jwt",
			    oidc[k]);
	}
	if ((err = kw_auth_str_list(in, "jwt_supported_algs", &algs, f)) != 0)
		return err;
	json_array_foreach(algs, i, e)
	{
		const char *a = json_string_value(e);

		if (strcmp(a, "RS256") != 0 && strcmp(a, "PS256") != 0 && strcmp(a, "ES256") != 0 &&
		    strcmp(a, "ES384") != 0) {
			err = kw_fail_set(
			    f, KW_ERR_UNSUPPORTED,
			    "jwt_supported_algs: only RS256, PS256, ES256 and ES384 are "
			    "verified");
			break;
		}
	}
	json_decref(algs);
	return err;
}

static int jwt_config_norm(const json_t *in, json_t **out, struct kw_fail *f)
{
	json_t *o = json_object();
	bool keys = false;
	int err = KW_ERR_NOMEM;

	if (o == NULL)
		goto out;
	if ((err = kw_auth_fields_known(in, config_fields, f)) != 0 ||
	    (err = config_refusals(in, f)) != 0 ||
	    (err = issuer_norm(in, "bound_issuer", o, &keys, f)) != 0 ||
	    (err = issuers_norm(in, o, f)) != 0 ||
	    (err = kw_auth_copy_str(in, "default_role", "", o, f)) != 0)
		goto out;
	if (!keys && json_array_size(json_object_get(o, "issuers")) == 0) {
		err = kw_fail_set(f, KW_ERR_INVALID,
		                  "configure one of jwt_validation_pubkeys, jwks_url and "
		                  "oidc_discovery_url, or a list of issuers");
		goto out;
	}
	*out = o;
	o = NULL;
	err = 0;
out:
	json_decref(o);
	return err;
}

/* ---- roles ---- */

static const char *const role_fields[] = {
    "role_type",
    "bound_audiences",
    "bound_subject",
    "bound_claims",
    "bound_claims_type",
    "user_claim",
    "user_claim_json_pointer",
    "claim_mappings",
    "clock_skew_leeway",
    "expiration_leeway",
    "not_before_leeway",
    "groups_claim",
    "verbose_oidc_logging",
    "allowed_redirect_uris",
    "oidc_scopes",
    "max_age",
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

static int fields_check(const json_t *in, struct kw_fail *f)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)in, key, v)
	{
		if (!role_field(key))
			return kw_fail_set(f, KW_ERR_INVALID, "unknown field \"%.64s\"", key);
	}
	return 0;
}

/* bound_claims: {"claim": "value" | ["v1", "v2"]}, normalised to lists. */
static int bound_claims_norm(const json_t *in, json_t *out, struct kw_fail *f)
{
	const json_t *v = json_object_get(in, "bound_claims");
	json_t *o = json_object();
	const char *key;
	json_t *val;

	if (o == NULL)
		return KW_ERR_NOMEM;
	if (v != NULL && !json_is_null(v) && !json_is_object(v)) {
		json_decref(o);
		return kw_fail_set(f, KW_ERR_INVALID, "field \"bound_claims\" must be an object");
	}
	json_object_foreach((json_t *)v, key, val)
	{
		json_t *wrap = json_pack("{s:O}", "v", val), *list;
		int err;

		if (wrap == NULL) {
			json_decref(o);
			return KW_ERR_NOMEM;
		}
		err = kw_auth_str_list(wrap, "v", &list, f);
		json_decref(wrap);
		if (err == 0 && json_array_size(list) == 0) {
			json_decref(list);
			err = KW_ERR_INVALID;
		}
		if (err != 0) {
			json_decref(o);
			return kw_fail_set(
			    f, KW_ERR_INVALID,
			    "bound_claims \"%.64s\" must be a string or a list of strings", key);
		}
		if (kw_jset(o, key, list) != 0) {
			json_decref(o);
			return KW_ERR_NOMEM;
		}
	}
	return kw_jset(out, "bound_claims", o);
}

static int claim_mappings_norm(const json_t *in, json_t *out, struct kw_fail *f)
{
	const json_t *v = json_object_get(in, "claim_mappings");
	const char *key;
	json_t *val;

	if (v == NULL || json_is_null(v))
		return kw_jset(out, "claim_mappings", json_object());
	if (!json_is_object(v))
		return kw_fail_set(f, KW_ERR_INVALID, "field \"claim_mappings\" must be an object");
	json_object_foreach((json_t *)v, key, val)
	{
		const char *to = json_string_value(val);

		/* The metadata names are the keeper's too: keep its own. */
		if (to == NULL || to[0] == '\0' || strcmp(to, "role") == 0 ||
		    strcmp(to, "mount") == 0 || strcmp(to, "method") == 0 ||
		    strcmp(to, "iss") == 0 || strcmp(to, "sub") == 0)
			return kw_fail_set(
			    f, KW_ERR_INVALID,
			    "claim_mappings \"%.64s\" must name a metadata field other "
			    "than role, mount, method, iss and sub",
			    key);
	}
	return kw_jset(out, "claim_mappings", json_deep_copy(v));
}

static int role_refusals(const json_t *in, const json_t *o, struct kw_fail *f)
{
	static const char *const empty[] = {"allowed_redirect_uris", "oidc_scopes"};
	const char *type, *gc;
	int err;

	if ((err = kw_jfield_str(in, "role_type", false, &type, f)) != 0 ||
	    (err = kw_jfield_str(in, "groups_claim", false, &gc, f)) != 0)
		return err;
	if (type != NULL && type[0] != '\0' && strcmp(type, "jwt") != 0)
		return kw_fail_set(f, KW_ERR_UNSUPPORTED, "only role_type \"jwt\" is supported");
	if (gc != NULL && gc[0] != '\0')
		return kw_fail_set(f, KW_ERR_UNSUPPORTED, "groups_claim is not supported");
	for (size_t i = 0; i < KW_ARRAY_LEN(empty); i++) {
		json_t *l;

		if ((err = kw_auth_str_list(in, empty[i], &l, f)) != 0)
			return err;
		err = json_array_size(l)
		          ? kw_fail_set(f, KW_ERR_UNSUPPORTED,
		                        "field \"%s\" belongs to the OIDC login flow, "
		                        "which is not supported",
		                        empty[i])
		          : 0;
		json_decref(l);
		if (err != 0)
			return err;
	}
	/* Vault: a jwt role must bind something, or any token of the issuer
	 * would do. */
	if (json_array_size(json_object_get(o, "bound_audiences")) == 0 &&
	    json_string_length(json_object_get(o, "bound_subject")) == 0 &&
	    json_object_size(json_object_get(o, "bound_claims")) == 0)
		return kw_fail_set(f, KW_ERR_INVALID,
		                   "must have at least one bound constraint (bound_audiences, "
		                   "bound_subject or bound_claims)");
	return 0;
}

static int jwt_role_norm(const json_t *in, json_t **out, struct kw_fail *f)
{
	json_t *o = json_object(), *aud = NULL;
	const char *bct;
	int err = KW_ERR_NOMEM;

	if (o == NULL)
		goto out;
	if ((err = fields_check(in, f)) != 0 ||
	    (err = kw_jset(o, "role_type", json_string("jwt"))) != 0 ||
	    (err = kw_auth_str_list(in, "bound_audiences", &aud, f)) != 0 ||
	    (err = kw_jset(o, "bound_audiences", aud)) != 0 ||
	    (err = kw_auth_copy_str(in, "bound_subject", "", o, f)) != 0 ||
	    (err = bound_claims_norm(in, o, f)) != 0 ||
	    (err = kw_jfield_str(in, "bound_claims_type", false, &bct, f)) != 0)
		goto out;
	aud = NULL;
	if (bct != NULL && strcmp(bct, "string") != 0 && strcmp(bct, "glob") != 0) {
		err = kw_fail_set(f, KW_ERR_INVALID, "bound_claims_type must be string or glob");
		goto out;
	}
	if ((err = kw_jset(o, "bound_claims_type", json_string(bct ? bct : "string"))) != 0 ||
	    (err = kw_auth_copy_str(in, "user_claim", "sub", o, f)) != 0 ||
	    (err = kw_auth_copy_bool(in, "user_claim_json_pointer", false, o, f)) != 0 ||
	    (err = claim_mappings_norm(in, o, f)) != 0 ||
	    (err = kw_auth_copy_duration(in, "clock_skew_leeway", NULL, KW_AUTH_LEEWAY_MAX, o,
	                                 f)) != 0 ||
	    (err = kw_auth_copy_duration(in, "expiration_leeway", NULL, KW_AUTH_LEEWAY_MAX, o,
	                                 f)) != 0 ||
	    (err = kw_auth_copy_duration(in, "not_before_leeway", NULL, KW_AUTH_LEEWAY_MAX, o,
	                                 f)) != 0 ||
	    (err = kw_auth_role_common(in, o, f)) != 0 || (err = role_refusals(in, o, f)) != 0)
		goto out;
	if (json_string_length(json_object_get(o, "user_claim")) == 0) {
		err = kw_fail_set(f, KW_ERR_INVALID, "user_claim must not be empty");
		goto out;
	}
	*out = o;
	o = NULL;
	err = 0;
out:
	json_decref(aud);
	json_decref(o);
	return err;
}

/* ---- state: every issuer's keys ---- */

struct jwt_issuer {
	char *iss; /* NULL: any issuer (Vault's bound_issuer unset) */
	struct kw_jwt_keys keys;
};

struct jwt_state {
	struct jwt_issuer iss[ISSUERS_MAX + 1];
	size_t n;
};

static void jwt_state_free(void *p)
{
	struct jwt_state *st = p;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n; i++) {
		free(st->iss[i].iss);
		kw_jwt_keys_cleanup(&st->iss[i].keys);
	}
	free(st);
}

static const char *nonempty(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

static int issuer_build(const json_t *o, const char *iss_key, struct jwt_issuer *out,
                        struct kw_fail *f)
{
	struct kw_jwt_keys_conf c = {0};
	const char *iss = nonempty(o, iss_key);
	int err;

	c.pem_keys = json_object_get(o, "jwt_validation_pubkeys");
	c.jwks_url = nonempty(o, "jwks_url");
	c.discovery = nonempty(o, "oidc_discovery_url");
	c.ca_pem = c.discovery ? nonempty(o, "oidc_discovery_ca_pem") : nonempty(o, "jwks_ca_pem");
	if ((err = kw_jwt_keys_build(&c, &out->keys, f)) != 0)
		return err;
	if (iss != NULL && (out->iss = strdup(iss)) == NULL)
		return KW_ERR_NOMEM;
	return 0;
}

static int jwt_state_new(struct kw_auth_mount *m, struct kw_fail *f)
{
	const json_t *issuers = json_object_get(m->config, "issuers"), *e;
	struct jwt_state *st = calloc(1, sizeof(*st));
	const json_t *pem = json_object_get(m->config, "jwt_validation_pubkeys");
	size_t i;
	int err = 0;

	if (st == NULL)
		return KW_ERR_NOMEM;
	if (json_array_size(pem) > 0 || nonempty(m->config, "jwks_url") ||
	    nonempty(m->config, "oidc_discovery_url"))
		err = issuer_build(m->config, "bound_issuer", &st->iss[st->n++], f);
	json_array_foreach(issuers, i, e)
	{
		if (err != 0 || st->n > ISSUERS_MAX)
			break;
		err = issuer_build(e, "issuer", &st->iss[st->n++], f);
	}
	if (err != 0) {
		jwt_state_free(st);
		return err;
	}
	m->state = st;
	return 0;
}

/* ---- login ---- */

struct jwt_login {
	struct kw_req *r;
	struct kw_auth_mount *m;
	const char *role_name;
	const json_t *role;
	struct kw_auth_jwt *jwt;
	char caller[KW_CALLER_ID_MAX + 1];
};

static int64_t leeway(const json_t *role, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(role, key));

	return v > 0 ? (int64_t)v : KW_AUTH_LEEWAY_DEFAULT;
}

/* Try every issuer; keep the reason that got furthest (the reasons are
 * listed in the order the checks run, signature before claims). */
static int jwt_verify_any(struct jwt_login *l, const char *token, size_t len,
                          enum kw_auth_reason *why)
{
	struct jwt_state *st = l->m->state;
	const char *aud[KW_AUTH_LIST_MAX];
	struct kw_auth_jwt_opts o;
	enum kw_auth_reason best = KW_AUTH_NO_KEYS;
	int err = KW_ERR_AUTH;

	kw_auth_jwt_opts_init(&o);
	o.naudiences = kw_auth_json_strs(l->role, "bound_audiences", aud, KW_AUTH_LIST_MAX);
	o.audiences = aud;
	o.exp_leeway = leeway(l->role, "expiration_leeway");
	o.nbf_leeway = leeway(l->role, "not_before_leeway");
	o.iat_leeway = leeway(l->role, "clock_skew_leeway");
	for (size_t i = 0; st != NULL && i < st->n; i++) {
		const char *iss = st->iss[i].iss;
		enum kw_auth_reason w;

		o.issuers = iss ? &iss : NULL;
		o.nissuers = iss ? 1 : 0;
		err = kw_jwt_keys_verify(&st->iss[i].keys, &o, token, len, kw_auth_now(), &l->jwt,
		                         &w);
		if (err == 0)
			return 0;
		if (w > best || best == KW_AUTH_NO_KEYS)
			best = w;
	}
	*why = best;
	return err == KW_ERR_AUTH || err == 0 ? KW_ERR_AUTH : err;
}

static int meta_build(struct jwt_login *l, json_t **out);

/* Once the token verified, the refusal carries its iss and sub. */
static int refuse(struct jwt_login *l, const char *reason, int err, const char *text)
{
	json_t *meta = NULL;
	int rc;

	if (l->jwt != NULL && meta_build(l, &meta) != 0)
		meta = NULL;
	rc = kw_login_refuse_meta(l->r, l->m, l->role_name, l->caller, meta, reason, err, text);
	json_decref(meta);
	return rc;
}

static int bindings_check(struct jwt_login *l)
{
	const json_t *claims = json_object_get(l->role, "bound_claims");
	bool glob =
	    strcmp(json_string_value(json_object_get(l->role, "bound_claims_type")), "glob") == 0;
	const char *sub = json_string_value(json_object_get(l->role, "bound_subject"));
	const json_t *aud = json_object_get(kw_auth_jwt_claims(l->jwt), "aud");
	const char *key;
	json_t *vals;

	/* Vault: a token with an audience needs a role that binds one. */
	if (aud != NULL && json_array_size(json_object_get(l->role, "bound_audiences")) == 0)
		return refuse(l, "audience_not_bound", KW_ERR_DENIED,
		              "the token has an audience and the role binds none");
	if (sub != NULL && sub[0] != '\0' && strcmp(sub, kw_auth_jwt_sub(l->jwt)) != 0)
		return refuse(l, "binding_mismatch", KW_ERR_DENIED,
		              "sub does not match the role's bound_subject");
	json_object_foreach((json_t *)claims, key, vals)
	{
		const char *v[KW_AUTH_LIST_MAX];
		size_t n = 0;
		bool ok = false;
		const json_t *e;
		size_t i;

		json_array_foreach(vals, i, e)
		{
			if (n < KW_AUTH_LIST_MAX)
				v[n++] = json_string_value(e);
		}
		if (kw_auth_jwt_claim_match(l->jwt, key, v, n, glob, &ok) != 0 || !ok)
			return refuse(l, "binding_mismatch", KW_ERR_DENIED,
			              "a claim does not match the role's bound_claims");
	}
	return 0;
}

/* iss, sub and the claim_mappings, all as text. */
static int meta_build(struct jwt_login *l, json_t **out)
{
	const json_t *maps = json_object_get(l->role, "claim_mappings");
	const char *iss = kw_auth_jwt_iss(l->jwt);
	json_t *o = json_pack("{s:s, s:s}", "iss", iss ? iss : "", "sub", kw_auth_jwt_sub(l->jwt));
	const char *claim;
	json_t *to;

	if (o == NULL)
		return KW_ERR_NOMEM;
	json_object_foreach((json_t *)maps, claim, to)
	{
		char *val = NULL;

		/* An absent or structured claim maps to nothing, as in Vault. */
		if (kw_auth_jwt_claim_string(l->jwt, claim, &val) != 0)
			continue;
		if (strlen(val) <= CLAIM_VALUE_MAX &&
		    kw_jset(o, json_string_value(to), json_string(val)) != 0) {
			free(val);
			json_decref(o);
			return KW_ERR_NOMEM;
		}
		free(val);
	}
	*out = o;
	return 0;
}

static int user_claim(struct jwt_login *l)
{
	const char *sel = json_string_value(json_object_get(l->role, "user_claim"));
	const json_t *claims = kw_auth_jwt_claims(l->jwt);
	char *val = NULL;
	int n, err;

	/* Without user_claim_json_pointer a leading '/' is part of the name. */
	if (sel[0] == '/' && !json_is_true(json_object_get(l->role, "user_claim_json_pointer")))
		err = json_object_get(claims, sel) == NULL
		          ? KW_ERR_NOT_FOUND
		          : kw_auth_claim_string(json_object_get(claims, sel), &val);
	else
		err = kw_auth_jwt_claim_string(l->jwt, sel, &val);
	if (err != 0)
		return refuse(l, "user_claim_missing", KW_ERR_AUTH,
		              "the token lacks the role's user_claim, or it is not a scalar");
	n = snprintf(l->caller, sizeof(l->caller), "jwt:%s/%s", l->m->name, val);
	free(val);
	if (n < 0 || (size_t)n >= sizeof(l->caller)) {
		l->caller[0] = '\0';
		return refuse(l, "user_claim_too_long", KW_ERR_AUTH,
		              "the token's user_claim is too long");
	}
	return 0;
}

static int login_body(struct kw_req *r, struct kw_auth_mount *m, const char **role,
                      const char **jwt)
{
	int err;

	if ((err = kw_jfield_str(r->body, "role", false, role, &r->fail)) != 0 ||
	    (err = kw_jfield_str(r->body, "jwt", true, jwt, &r->fail)) != 0)
		return err;
	if (*role == NULL || (*role)[0] == '\0')
		*role = json_string_value(json_object_get(m->config, "default_role"));
	if (*role == NULL || (*role)[0] == '\0')
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "missing required field \"role\"");
	if ((*jwt)[0] == '\0')
		return kw_fail_set(&r->fail, KW_ERR_INVALID, "field \"jwt\" is empty");
	return 0;
}

static int jwt_login(struct kw_req *r, struct kw_auth_mount *m, struct kw_resp *out)
{
	struct jwt_login l = {.r = r, .m = m};
	const struct kw_auth_role *role;
	enum kw_auth_reason why;
	json_t *meta = NULL;
	const char *token;
	int err;

	if ((err = login_body(r, m, &l.role_name, &token)) != 0)
		return err;
	if ((role = kw_auth_role_find(m, l.role_name)) == NULL)
		return refuse(&l, "role_not_found", KW_ERR_DENIED, "no such role");
	l.role = role->json;
	if ((err = jwt_verify_any(&l, token, strlen(token), &why)) != 0)
		return refuse(&l, kw_auth_reason_code(why), KW_ERR_AUTH, kw_auth_reason_str(why));
	if (kw_auth_ended(kw_auth_jwt_exp(l.jwt))) {
		err = refuse(&l, kw_auth_reason_code(KW_AUTH_EXPIRED), KW_ERR_AUTH,
		             kw_auth_reason_str(KW_AUTH_EXPIRED));
		goto out;
	}
	if ((err = user_claim(&l)) != 0 || (err = bindings_check(&l)) != 0)
		goto out;
	if ((err = meta_build(&l, &meta)) != 0)
		goto out;
	err = kw_login_finish(r, m, l.role_name, l.caller, meta,
	                      kw_auth_expires(kw_auth_jwt_exp(l.jwt)), out);
out:
	json_decref(meta);
	kw_auth_jwt_free(l.jwt);
	return err;
}

const struct kw_auth_method kw_auth_method_jwt = {
    .type = "jwt",
    .kind = KW_AUTH_KIND_JWT,
    .role_word = "role",
    .config_secret = NULL,
    .config_norm = jwt_config_norm,
    .role_norm = jwt_role_norm,
    .state_new = jwt_state_new,
    .state_free = jwt_state_free,
    .login = jwt_login,
};
