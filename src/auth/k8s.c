/*
 * k8s.c: the Kubernetes claims of a verified service-account token, projected
 * (the nested "kubernetes.io" claim) or legacy (flat
 * "kubernetes.io/serviceaccount/..." claims), cross-checked against sub, and
 * the identity k8s:<namespace>/<serviceaccount> built from them.
 *
 * Names are validated as Kubernetes validates them (DNS-1123 labels and
 * subdomains): the identity string is a policy subject, so a claim must not
 * be able to smuggle a '/' or ':' into it.
 */
#include <stdio.h>
#include <string.h>

#include "auth_int.h"

#define SA_SUB_PREFIX "system:serviceaccount:"
#define LEGACY_PREFIX "kubernetes.io/serviceaccount/"

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One DNS-1123 label of n bytes: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
static bool dns_label_n(const char *s, size_t n)
{
	if (n == 0 || n > KW_AUTH_K8S_NS_MAX || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool dns_label(const char *s)
{
	return dns_label_n(s, strlen(s));
}

/* DNS-1123 subdomain: dot-separated labels, at most 253 in all. */
static bool dns_subdomain(const char *s)
{
	size_t n = strlen(s);
	const char *dot;

	if (n == 0 || n > KW_AUTH_K8S_NAME_MAX)
		return false;
	for (;;) {
		dot = strchr(s, '.');
		if (!dns_label_n(s, dot != NULL ? (size_t)(dot - s) : strlen(s)))
			return false;
		if (dot == NULL)
			return true;
		s = dot + 1;
	}
}

/* UIDs are UUIDs in practice; accept the characters UUIDs use, nothing odd. */
static bool uid_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KW_AUTH_K8S_UID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Copy a string claim that passes valid(); absent is fine unless required. */
static bool take(const json_t *v, bool required, bool (*valid)(const char *), char *dst,
                 size_t dstlen)
{
	if (v == NULL)
		return !required;
	return json_is_string(v) && valid(json_string_value(v)) &&
	       kw_strlcpy(dst, json_string_value(v), dstlen) == 0;
}

/* {"name": ..., "uid": ...}: name required when the object is there. */
static bool take_ref(const json_t *parent, const char *key, bool required, char *name,
                     size_t namelen, char *uid, size_t uidlen)
{
	const json_t *ref = json_object_get(parent, key);

	if (ref == NULL)
		return !required;
	if (!json_is_object(ref) ||
	    !take(json_object_get(ref, "name"), true, dns_subdomain, name, namelen))
		return false;
	return take(json_object_get(ref, "uid"), false, uid_ok, uid, uidlen);
}

#define FIELD(k, f) (k)->f, sizeof((k)->f)

/* kube-apiserver's privateClaims (pkg/serviceaccount/claims.go). */
static bool projected_claims(const json_t *ns, struct kw_auth_k8s *k)
{
	char secret_uid[KW_AUTH_K8S_UID_MAX + 1], node_uid[KW_AUTH_K8S_UID_MAX + 1];

	if (!json_is_object(ns))
		return false;
	return take(json_object_get(ns, "namespace"), true, dns_label, FIELD(k, namespace)) &&
	       take_ref(ns, "serviceaccount", true, FIELD(k, service_account),
	                FIELD(k, service_account_uid)) &&
	       take_ref(ns, "pod", false, FIELD(k, pod_name), FIELD(k, pod_uid)) &&
	       take_ref(ns, "secret", false, FIELD(k, secret_name), secret_uid,
	                sizeof(secret_uid)) &&
	       take_ref(ns, "node", false, FIELD(k, node_name), node_uid, sizeof(node_uid));
}

/* kube-apiserver's legacyPrivateClaims (pkg/serviceaccount/legacy.go). */
static bool legacy_claims(const json_t *c, struct kw_auth_k8s *k)
{
	k->legacy = true;
	return take(json_object_get(c, LEGACY_PREFIX "namespace"), true, dns_label,
	            FIELD(k, namespace)) &&
	       take(json_object_get(c, LEGACY_PREFIX "service-account.name"), true, dns_subdomain,
	            FIELD(k, service_account)) &&
	       take(json_object_get(c, LEGACY_PREFIX "service-account.uid"), false, uid_ok,
	            FIELD(k, service_account_uid)) &&
	       take(json_object_get(c, LEGACY_PREFIX "secret.name"), false, dns_subdomain,
	            FIELD(k, secret_name));
}

/* sub must name the same account the private claims name. */
static bool sub_matches(const char *sub, const struct kw_auth_k8s *k)
{
	size_t plen = strlen(SA_SUB_PREFIX), nslen = strlen(k->namespace);

	return strncmp(sub, SA_SUB_PREFIX, plen) == 0 &&
	       strncmp(sub + plen, k->namespace, nslen) == 0 && sub[plen + nslen] == ':' &&
	       strcmp(sub + plen + nslen + 1, k->service_account) == 0;
}

int kw_auth_k8s_from_jwt(const struct kw_auth_jwt *jwt, struct kw_auth_k8s *out,
                         enum kw_auth_reason *why)
{
	const json_t *projected = json_object_get(jwt->claims, "kubernetes.io");
	const json_t *legacy_ns = json_object_get(jwt->claims, LEGACY_PREFIX "namespace");
	struct kw_auth_k8s k;
	bool ok;

	memset(&k, 0, sizeof(k));
	*why = KW_AUTH_OK;
	if (projected == NULL && legacy_ns == NULL)
		return auth_refuse(why, KW_AUTH_K8S_MISSING);
	/* Both kinds at once is no token kube-apiserver issues: which one
	 * would be the identity? */
	if (projected != NULL && legacy_ns != NULL)
		return auth_refuse(why, KW_AUTH_K8S_INVALID);
	ok = projected != NULL ? projected_claims(projected, &k) : legacy_claims(jwt->claims, &k);
	if (!ok)
		return auth_refuse(why, KW_AUTH_K8S_INVALID);
	if (!sub_matches(jwt->sub, &k))
		return auth_refuse(why, KW_AUTH_K8S_SUB_MISMATCH);
	snprintf(k.identity, sizeof(k.identity), "k8s:%s/%s", k.namespace, k.service_account);
	*out = k;
	return 0;
}
