/*
 * auth_cert.c: the cert auth method (Vault's, for mTLS clients and SPIFFE
 * X509-SVIDs): auth/<mount>/certs/<name> entries holding a CA bundle
 * ("certificate"), allowed_uri_sans (SPIFFE ID patterns), allowed
 * common names (globs) and token settings; auth/<mount>/login with the TLS
 * client chain of the connection; and the implicit identity of a request
 * that sends no token but a client chain, so a SPIFFE workload needs no
 * login step at all.
 *
 * The identity is the leaf's SPIFFE ID, else "cert:<CN>" (else
 * "cert:sha256:<hex>"); the claims are the leaf's SHA-256, CN and SPIFFE ID.
 * Chains are verified by kw_auth_cert_verify (src/auth/x509.c).
 *
 * Implicit identities are cached by the SHA-256 of the presented chain, so
 * a keep-alive client does not pay a chain verification per request; an
 * entry is good while no mount was written (kw_auth_cache_gen), for at most
 * IMPLICIT_TTL seconds and never past the leaf's notAfter.
 *
 * Secrets: none. Certificates are public; nothing here is a credential.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "front_int.h"

#define IMPLICIT_SLOTS 64
#define IMPLICIT_TTL   60 /* seconds a cached implicit identity is reused */
#define WHY_BYTES      160

/* ---- config and roles ---- */

static const char *const config_fields[] = {"disable_binding", "enable_identity_alias_metadata",
                                            NULL};

static int cert_config_norm(const json_t *in, json_t **out, struct kw_fail *f)
{
	json_t *o = json_object();
	int err = KW_ERR_NOMEM;

	if (o == NULL)
		goto out;
	if ((err = kw_auth_fields_known(in, config_fields, f)) != 0 ||
	    (err = kw_auth_copy_bool(in, "disable_binding", false, o, f)) != 0 ||
	    (err = kw_auth_copy_bool(in, "enable_identity_alias_metadata", false, o, f)) != 0)
		goto out;
	*out = o;
	o = NULL;
out:
	json_decref(o);
	return err;
}

static const char *const role_fields[] = {"certificate", "allowed_uri_sans", "allowed_common_names",
                                          "display_name", NULL};

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

static int uri_sans_norm(const json_t *in, json_t *o, struct kw_fail *f)
{
	json_t *a = NULL;
	const json_t *e;
	size_t i;
	int err;

	if ((err = kw_auth_str_list(in, "allowed_uri_sans", &a, f)) != 0)
		return err;
	json_array_foreach(a, i, e)
	{
		if (kw_auth_spiffe_pattern_check(json_string_value(e)) != 0) {
			json_decref(a);
			return kw_fail_set(f, KW_ERR_INVALID,
			                   "allowed_uri_sans entry %zu is not a SPIFFE ID pattern "
			                   "(spiffe://<trust domain>/<path>, '*' only inside path "
			                   "segments)",
			                   i);
		}
	}
	return kw_jset(o, "allowed_uri_sans", a);
}

static int cert_role_norm(const json_t *in, json_t **out, struct kw_fail *f)
{
	json_t *o = json_object(), *cns = NULL;
	const char *pem, *key;
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
	if ((err = kw_jfield_str(in, "certificate", true, &pem, f)) != 0)
		goto out;
	if (strlen(pem) > KW_PEM_MAX || strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL) {
		err = kw_fail_set(f, KW_ERR_INVALID,
		                  "field \"certificate\" must hold PEM CA certificates");
		goto out;
	}
	if ((err = kw_jset(o, "certificate", json_string(pem))) != 0 ||
	    (err = uri_sans_norm(in, o, f)) != 0 ||
	    (err = kw_auth_str_list(in, "allowed_common_names", &cns, f)) != 0 ||
	    (err = kw_jset(o, "allowed_common_names", cns)) != 0 ||
	    (err = kw_auth_copy_str(in, "display_name", "", o, f)) != 0 ||
	    (err = kw_auth_role_common(in, o, f)) != 0)
		goto out;
	*out = o;
	o = NULL;
out:
	json_decref(o);
	return err;
}

/* ---- matching a chain to a role ---- */

struct cert_match {
	const struct kw_auth_role *role;
	struct kw_auth_cert_id id;
	char caller[KW_CALLER_ID_MAX + 1];
};

/* Do the role's name bindings accept this certificate? Vault's rule: every
 * kind of binding the role sets must match; none set = any cert of its CA. */
static bool names_match(const json_t *role, const struct kw_auth_cert_id *id)
{
	const char *v[KW_AUTH_LIST_MAX];
	size_t n;

	n = kw_auth_json_strs(role, "allowed_uri_sans", v, KW_AUTH_LIST_MAX);
	if (n > 0) {
		bool ok = false;

		for (size_t i = 0; i < n && !ok; i++)
			ok = id->spiffe_id[0] != '\0' && kw_auth_spiffe_match(v[i], id->spiffe_id);
		if (!ok)
			return false;
	}
	n = kw_auth_json_strs(role, "allowed_common_names", v, KW_AUTH_LIST_MAX);
	if (n > 0 && (id->common_name[0] == '\0' || !kw_auth_glob_match_any(v, n, id->common_name)))
		return false;
	return true;
}

static void caller_of(struct cert_match *cm)
{
	if (cm->id.spiffe_id[0] != '\0')
		snprintf(cm->caller, sizeof(cm->caller), "%s", cm->id.spiffe_id);
	else if (cm->id.common_name[0] != '\0')
		snprintf(cm->caller, sizeof(cm->caller), "cert:%s", cm->id.common_name);
	else
		snprintf(cm->caller, sizeof(cm->caller), "cert:sha256:%s", cm->id.sha256);
}

enum match_result { MATCH_NONE, MATCH_VERIFIED_ONLY, MATCH_OK };

/*
 * The first role of m (or only `only`) whose CA verifies the chain and whose
 * bindings accept it. why gets the last verification refusal.
 */
static enum match_result chain_match(const struct kw_peer_chain *peer,
                                     const struct kw_auth_mount *m, const char *only,
                                     struct cert_match *cm, char *why, size_t whylen)
{
	enum match_result best = MATCH_NONE;

	for (size_t i = 0; i < m->nroles; i++) {
		const struct kw_auth_role *role = &m->roles[i];
		const char *ca = json_string_value(json_object_get(role->json, "certificate"));
		struct kw_auth_cert_id id;

		if (only != NULL && strcmp(only, role->name) != 0)
			continue;
		if (ca == NULL || kw_auth_cert_verify(peer->der, peer->len, peer->n, ca,
		                                      kw_auth_now(), &id, why, whylen) != 0)
			continue;
		if (!names_match(role->json, &id)) {
			if (best == MATCH_NONE) {
				cm->role = role;
				cm->id = id;
				caller_of(cm);
			}
			best = MATCH_VERIFIED_ONLY;
			continue;
		}
		cm->role = role;
		cm->id = id;
		caller_of(cm);
		return MATCH_OK;
	}
	return best;
}

static int meta_build(const struct cert_match *cm, json_t **out)
{
	json_t *o = json_pack("{s:s, s:s}", "sha256", cm->id.sha256, "cn", cm->id.common_name);

	if (o == NULL)
		return KW_ERR_NOMEM;
	if (cm->id.spiffe_id[0] != '\0' &&
	    kw_jset(o, "spiffe_id", json_string(cm->id.spiffe_id)) != 0) {
		json_decref(o);
		return KW_ERR_NOMEM;
	}
	*out = o;
	return 0;
}

/* ---- login ---- */

static int cert_login(struct kw_req *r, struct kw_auth_mount *m, struct kw_resp *out)
{
	struct cert_match cm = {0};
	char why[WHY_BYTES] = "";
	enum match_result res;
	const char *only;
	json_t *meta = NULL;
	int err;

	if ((err = kw_jfield_str(r->body, "name", false, &only, &r->fail)) != 0)
		return err;
	if (only != NULL && only[0] == '\0')
		only = NULL;
	if (r->peer.n == 0)
		return kw_login_refuse(r, m, only, NULL, "no_client_certificate", KW_ERR_AUTH,
		                       "no client certificate was presented on this connection");
	if (only != NULL && kw_auth_role_find(m, only) == NULL)
		return kw_login_refuse(r, m, only, NULL, "role_not_found", KW_ERR_DENIED,
		                       "no such certificate role");
	res = chain_match(&r->peer, m, only, &cm, why, sizeof(why));
	if (res == MATCH_NONE)
		return kw_login_refuse(r, m, only, NULL, "certificate_invalid", KW_ERR_AUTH,
		                       why[0] ? why
		                              : "no certificate role trusts this certificate");
	if ((err = meta_build(&cm, &meta)) != 0)
		return err;
	if (res == MATCH_VERIFIED_ONLY) {
		err = kw_login_refuse_meta(r, m, cm.role->name, cm.caller, meta, "binding_mismatch",
		                           KW_ERR_DENIED,
		                           "the certificate's names are not allowed by the role");
		json_decref(meta);
		return err;
	}
	err = kw_login_finish(r, m, cm.role->name, cm.caller, meta,
	                      kw_auth_expires(cm.id.not_after), out);
	json_decref(meta);
	return err;
}

/* ---- implicit identity ---- */

struct implicit {
	bool used;
	uint8_t chain[32]; /* SHA-256 over the chain's DER, with lengths */
	uint64_t gen;
	int64_t until; /* real clock */
	bool found;
	char mount[KW_MOUNT_MAX + 1];
	char role[KW_NAME_MAX + 1];
	char caller[KW_CALLER_ID_MAX + 1];
	int64_t expires;
	char meta[600];
};

static struct {
	pthread_mutex_t mu;
	struct implicit slot[IMPLICIT_SLOTS];
	size_t next;
} implicit_cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int chain_hash(const struct kw_peer_chain *p, uint8_t out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < p->n; i++) {
		uint8_t len[8];

		kw_store_u64(len, p->len[i]);
		ok = EVP_DigestUpdate(c, len, sizeof(len)) == 1 &&
		     EVP_DigestUpdate(c, p->der[i], p->len[i]) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(c, out, NULL) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : KW_ERR_CRYPTO;
}

static bool implicit_lookup(const uint8_t h[32], struct implicit *out)
{
	bool hit = false;

	pthread_mutex_lock(&implicit_cache.mu);
	for (size_t i = 0; i < IMPLICIT_SLOTS && !hit; i++) {
		struct implicit *s = &implicit_cache.slot[i];

		if (s->used && memcmp(s->chain, h, 32) == 0 && s->gen == kw_auth_cache_gen() &&
		    s->until > kw_now()) {
			*out = *s;
			hit = true;
		}
	}
	pthread_mutex_unlock(&implicit_cache.mu);
	return hit;
}

static void implicit_store(const struct implicit *e)
{
	pthread_mutex_lock(&implicit_cache.mu);
	for (size_t i = 0; i < IMPLICIT_SLOTS; i++) {
		if (implicit_cache.slot[i].used &&
		    memcmp(implicit_cache.slot[i].chain, e->chain, 32) == 0) {
			implicit_cache.slot[i] = *e;
			pthread_mutex_unlock(&implicit_cache.mu);
			return;
		}
	}
	implicit_cache.slot[implicit_cache.next] = *e;
	implicit_cache.next = (implicit_cache.next + 1) % IMPLICIT_SLOTS;
	pthread_mutex_unlock(&implicit_cache.mu);
}

static int implicit_fill(const struct kw_auth_mount *m, const struct cert_match *cm,
                         struct implicit *e)
{
	json_t *meta = NULL;
	char *text;
	size_t len;
	int err;

	if ((err = meta_build(cm, &meta)) != 0)
		return err;
	text = kw_json_text(meta, &len);
	json_decref(meta);
	if (text == NULL)
		return KW_ERR_NOMEM;
	err = kw_strlcpy(e->meta, text, sizeof(e->meta));
	kw_json_text_free(text);
	if (err != 0 || kw_strlcpy(e->mount, m->name, sizeof(e->mount)) != 0 ||
	    kw_strlcpy(e->role, cm->role->name, sizeof(e->role)) != 0 ||
	    kw_strlcpy(e->caller, cm->caller, sizeof(e->caller)) != 0)
		return KW_ERR_LIMIT;
	e->expires = kw_auth_expires(cm->id.not_after);
	e->found = true;
	if (e->until > e->expires)
		e->until = e->expires;
	return 0;
}

/* Search every cert mount for the first role that takes this chain. */
static void implicit_resolve(struct kw_req *r, struct implicit *e)
{
	char names[32][KW_MOUNT_MAX + 1];
	size_t n = kw_auth_cert_mounts(r, names, KW_ARRAY_LEN(names));

	for (size_t i = 0; i < n && !e->found; i++) {
		struct kw_auth_mount *m = NULL;
		struct cert_match cm = {0};
		char why[WHY_BYTES];

		if (kw_auth_mount_get(r, names[i], &m) != 0)
			continue;
		if (m->kind == KW_AUTH_KIND_CERT &&
		    chain_match(&r->peer, m, NULL, &cm, why, sizeof(why)) == MATCH_OK &&
		    implicit_fill(m, &cm, e) != 0)
			e->found = false;
		kw_auth_mount_put(m);
	}
	kw_fail_clear(&r->fail);
}

int kw_cert_implicit(struct kw_req *r, struct kw_ipc_msg *m)
{
	struct implicit e = {0};
	int err;

	if (r->peer.n == 0)
		return 0;
	if ((err = chain_hash(&r->peer, e.chain)) != 0)
		return err;
	if (!implicit_lookup(e.chain, &e)) {
		e.used = true;
		e.gen = kw_auth_cache_gen();
		e.until = kw_now() + IMPLICIT_TTL;
		implicit_resolve(r, &e);
		implicit_store(&e);
	}
	if (!e.found)
		return 0;
	if ((err = kw_ipc_put_str(m, KW_T_CALLER_MOUNT, e.mount)) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_CALLER_ROLE, e.role)) != 0 ||
	    (err = kw_ipc_put_str(m, KW_T_CALLER_ID, e.caller)) != 0 ||
	    (err = kw_ipc_put_u64(m, KW_T_CALLER_EXPIRES, (uint64_t)e.expires)) != 0)
		return err;
	return kw_ipc_put_str(m, KW_T_CALLER_META, e.meta);
}

const struct kw_auth_method kw_auth_method_cert = {
    .type = "cert",
    .kind = KW_AUTH_KIND_CERT,
    .role_word = "certs",
    .config_secret = NULL,
    .config_norm = cert_config_norm,
    .role_norm = cert_role_norm,
    .state_new = NULL,
    .state_free = NULL,
    .login = cert_login,
};
