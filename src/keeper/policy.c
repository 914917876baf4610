/*
 * policy.c: Vault ACL policies in their JSON form, and the one function that
 * decides whether a caller may do something: keeper_authorize().
 *
 * The path checked is always the keeper's canonical path for the operation
 * ("transit/sign/<key>"), never the HTTP path, so a routing mistake in the
 * front cannot widen access. Within one policy the most specific matching
 * rule applies (Vault's rules: exact beats glob; then a later first
 * wildcard, no trailing '*', fewer '+', longer, larger); across a token's
 * policies capabilities add up, and "deny" anywhere wins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "keeper_int.h"

#define POLICY_RULES_MAX 1024

static const struct {
	const char *name;
	unsigned cap;
} cap_names[] = {
    {"create", CAP_CREATE}, {"read", CAP_READ}, {"update", CAP_UPDATE}, {"delete", CAP_DELETE},
    {"list", CAP_LIST},     {"sudo", CAP_SUDO}, {"deny", CAP_DENY},
};

void keeper_policy_free(struct keeper_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nrules; i++)
		free(p->rules[i].pattern);
	free(p->rules);
	free(p);
}

static int caps_parse(json_t *arr, unsigned *out, char *why, size_t whylen)
{
	size_t i;
	json_t *c;

	*out = 0;
	if (!json_is_array(arr)) {
		snprintf(why, whylen, "capabilities must be a list");
		return KW_ERR_INVALID;
	}
	json_array_foreach(arr, i, c)
	{
		size_t j;
		for (j = 0; j < KW_ARRAY_LEN(cap_names); j++)
			if (json_is_string(c) &&
			    strcmp(json_string_value(c), cap_names[j].name) == 0)
				break;
		if (j == KW_ARRAY_LEN(cap_names)) {
			snprintf(why, whylen,
			         "unknown capability (allowed: create, read, update, "
			         "delete, list, sudo, deny)");
			return KW_ERR_INVALID;
		}
		*out |= cap_names[j].cap;
	}
	return 0;
}

static bool pattern_valid(const char *p)
{
	const char *star = strchr(p, '*');

	if (*p == '\0' || strlen(p) > 512 || strpbrk(p, " \t\r\n") != NULL)
		return false;
	return star == NULL || star[1] == '\0'; /* '*' only at the end */
}

static int rules_parse(json_t *paths, struct keeper_policy *p, char *why, size_t whylen)
{
	const char *pat;
	json_t *rule;

	if (!json_is_object(paths) || json_object_size(paths) > POLICY_RULES_MAX) {
		snprintf(why, whylen, "\"path\" must be an object of at most %d rules",
		         POLICY_RULES_MAX);
		return KW_ERR_INVALID;
	}
	p->rules = calloc(json_object_size(paths) + 1, sizeof(*p->rules));
	if (p->rules == NULL)
		return KW_ERR_NOMEM;
	json_object_foreach(paths, pat, rule)
	{
		struct keeper_policy_rule *ru = &p->rules[p->nrules];
		json_t *caps = json_object_get(rule, "capabilities");
		int r;

		if (!pattern_valid(pat)) {
			snprintf(why, whylen,
			         "path patterns are non-empty, without spaces, with "
			         "'*' only at the end");
			return KW_ERR_INVALID;
		}
		if (!json_is_object(rule) || json_object_size(rule) != 1 || caps == NULL) {
			snprintf(why, whylen, "each path takes exactly {\"capabilities\": [...]}");
			return KW_ERR_INVALID;
		}
		if ((r = caps_parse(caps, &ru->caps, why, whylen)) != 0)
			return r;
		if ((ru->pattern = kw_strdup(pat)) == NULL)
			return KW_ERR_NOMEM;
		p->nrules++;
	}
	return 0;
}

int keeper_policy_compile(const char *name, const char *text, struct keeper_policy **out, char *why,
                          size_t whylen)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	struct keeper_policy *p = NULL;
	int r = KW_ERR_INVALID;

	snprintf(why, whylen, "invalid policy");
	if (doc == NULL) {
		snprintf(why, whylen,
		         "the policy is not valid JSON (line %d); only the JSON form of Vault "
		         "policies is supported",
		         jerr.line);
		return KW_ERR_INVALID;
	}
	if (!json_is_object(doc) || json_object_size(doc) != 1 ||
	    json_object_get(doc, "path") == NULL) {
		snprintf(why, whylen,
		         "a policy is {\"path\": {\"<pattern>\": {\"capabilities\": "
		         "[...]}}}");
		goto out;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if (kw_strlcpy(p->name, name, sizeof(p->name)) != 0)
		goto out;
	if ((r = rules_parse(json_object_get(doc, "path"), p, why, whylen)) != 0)
		goto out;
	*out = p;
	p = NULL;
out:
	keeper_policy_free(p);
	json_decref(doc);
	return r;
}

/* Does pattern match path? '+' matches one segment, a final '*' any rest. */
static bool pattern_match(const char *pat, const char *path)
{
	while (*pat) {
		if (*pat == '*' && pat[1] == '\0')
			return true;
		if (*pat == '+' && (pat[1] == '/' || pat[1] == '\0')) {
			const char *slash = strchr(path, '/');
			if (*path == '\0' || slash == path)
				return false;
			path = slash ? slash : path + strlen(path);
			pat++;
			continue;
		}
		if (*pat != *path)
			return false;
		pat++;
		path++;
	}
	return *path == '\0';
}

static bool is_glob(const char *p)
{
	return strpbrk(p, "*+") != NULL;
}

/* Vault's priority: is a more specific than b? */
static bool more_specific(const char *a, const char *b)
{
	size_t wa = strcspn(a, "*+"), wb = strcspn(b, "*+");
	size_t la = strlen(a), lb = strlen(b);
	bool sa = la && a[la - 1] == '*', sb = lb && b[lb - 1] == '*';
	size_t pa = 0, pb = 0;

	if (!is_glob(a) || !is_glob(b))
		return !is_glob(a) && is_glob(b);
	if (wa != wb)
		return wa > wb;
	if (sa != sb)
		return !sa;
	for (const char *c = a; *c; c++)
		pa += *c == '+';
	for (const char *c = b; *c; c++)
		pb += *c == '+';
	if (pa != pb)
		return pa < pb;
	if (la != lb)
		return la > lb;
	return strcmp(a, b) > 0;
}

unsigned keeper_policy_caps(const struct keeper_policy *p, const char *path)
{
	const struct keeper_policy_rule *best = NULL;

	for (size_t i = 0; i < p->nrules; i++) {
		const struct keeper_policy_rule *ru = &p->rules[i];
		if (pattern_match(ru->pattern, path) &&
		    (best == NULL || more_specific(ru->pattern, best->pattern)))
			best = ru;
	}
	return best ? best->caps : 0;
}

void keeper_policies_purge(struct keeper *k)
{
	pthread_mutex_lock(&k->auth_lock);
	for (size_t i = 0; i < KEEPER_AUTH_BUCKETS; i++) {
		while (k->policies[i] != NULL) {
			struct keeper_policy *p = k->policies[i];
			k->policies[i] = p->next;
			keeper_policy_free(p);
		}
	}
	pthread_mutex_unlock(&k->auth_lock);
}

static void policy_forget(struct keeper *k, const char *name)
{
	struct keeper_policy **pp, *p;

	pthread_mutex_lock(&k->auth_lock);
	pp = &k->policies[keeper_hash_str(name) % KEEPER_AUTH_BUCKETS];
	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	if ((p = *pp) != NULL)
		*pp = p->next;
	pthread_mutex_unlock(&k->auth_lock);
	keeper_policy_free(p);
}

/* Capabilities that policy `name` grants on path (cached compile). A policy
 * that is missing or no longer compiles grants nothing. */
static unsigned policy_caps(struct keeper *k, const char *name, const char *path)
{
	struct keeper_policy *p, **pp;
	char *text = NULL, why[128];
	unsigned caps = 0;

	pthread_mutex_lock(&k->auth_lock);
	pp = &k->policies[keeper_hash_str(name) % KEEPER_AUTH_BUCKETS];
	for (p = *pp; p != NULL && strcmp(p->name, name) != 0; p = p->next)
		;
	if (p == NULL && kw_store_policy_get(k->store, name, &text) == 0 &&
	    keeper_policy_compile(name, text, &p, why, sizeof(why)) == 0) {
		p->next = *pp;
		*pp = p;
	}
	if (p != NULL)
		caps = keeper_policy_caps(p, path);
	pthread_mutex_unlock(&k->auth_lock);
	free(text);
	return caps;
}

static const char *caps_word(unsigned caps)
{
	for (size_t j = 0; j < KW_ARRAY_LEN(cap_names); j++)
		if (caps & cap_names[j].cap)
			return cap_names[j].name;
	return "any";
}

int keeper_authorize(struct kreq *r, const char *path, unsigned caps)
{
	return keeper_authorize_any(r, path, caps, 0);
}

int keeper_authorize_any(struct kreq *r, const char *path, unsigned caps, unsigned any)
{
	unsigned have = 0;
	char *list, *save = NULL;
	int s;

	snprintf(r->path, sizeof(r->path), "%s", path);
	if ((s = keeper_identify(r)) != 0)
		return s;
	if (r->id.root)
		return 0;
	if ((list = kw_strdup(r->id.policies)) == NULL)
		return kreq_fail(r, KW_ERR_NOMEM, "out of memory");
	for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
		have |= policy_caps(r->k, p, path);
	free(list);
	if ((have & CAP_DENY) || (have & caps) != caps || (any != 0 && (have & any) == 0))
		return kreq_fail(
		    r, KW_ERR_DENIED,
		    "permission denied: the caller's policies do not grant '%s' on '%s'",
		    caps_word((caps & ~have) ? caps & ~have : any), path);
	return 0;
}

static int policy_path(struct kreq *r, char *path, size_t len)
{
	int s = kreq_need_name(r);

	if (s == 0)
		snprintf(path, len, "sys/policies/acl/%s", r->name);
	return s;
}

int keeper_answer_policy_put(struct kreq *r)
{
	const char *text = kw_ipc_str_or(r->msg, KW_T_POLICY_TEXT, NULL);
	struct keeper_policy *p = NULL;
	char path[KW_NAME_MAX + 32], why[256];
	int s;

	if ((s = policy_path(r, path, sizeof(path))) != 0 ||
	    (s = keeper_authorize(r, path, CAP_UPDATE)) != 0)
		return s;
	if (strcmp(r->name, "root") == 0)
		return kreq_fail(r, KW_ERR_INVALID, "the root policy cannot be changed");
	if (text == NULL)
		return kreq_fail(r, KW_ERR_INVALID, "policy text is required");
	if ((s = keeper_policy_compile(r->name, text, &p, why, sizeof(why))) != 0)
		return kreq_fail(r, s, "%s", why);
	keeper_policy_free(p);
	if ((s = kw_store_policy_put(r->k->store, r->name, text)) != 0)
		return kreq_fail(r, s, "cannot store policy '%s'", r->name);
	policy_forget(r->k, r->name);
	kw_info("req=%s: policy '%s' written by %s", r->req_id, r->name, r->id.accessor);
	return 0;
}

int keeper_answer_policy_get(struct kreq *r)
{
	char path[KW_NAME_MAX + 32], *text = NULL;
	int s;

	if ((s = policy_path(r, path, sizeof(path))) != 0 ||
	    (s = keeper_authorize(r, path, CAP_READ)) != 0)
		return s;
	if ((s = kw_store_policy_get(r->k->store, r->name, &text)) != 0)
		return kreq_fail(r, s,
		                 s == KW_ERR_NOT_FOUND ? "policy '%s' not found"
		                                       : "policy '%s' cannot be read",
		                 r->name);
	if (kw_ipc_put_str(r->reply, KW_T_NAME, r->name) != 0 ||
	    kw_ipc_put_str(r->reply, KW_T_POLICY_TEXT, text) != 0)
		s = kreq_fail(r, KW_ERR_LIMIT, "reply too large");
	free(text);
	return s;
}

int keeper_answer_policy_list(struct kreq *r)
{
	char **names = NULL;
	size_t n = 0;
	int s;

	if ((s = keeper_authorize(r, "sys/policies/acl", CAP_LIST)) != 0)
		return s;
	if ((s = kw_store_policy_list(r->k->store, &names, &n)) != 0)
		return kreq_fail(r, s, "the store cannot be read");
	s = kw_ipc_put_str(r->reply, KW_T_NAME, "root");
	for (size_t i = 0; i < n && s == 0; i++)
		s = kw_ipc_put_str(r->reply, KW_T_NAME, names[i]);
	kw_store_names_free(names, n);
	return s ? kreq_fail(r, KW_ERR_LIMIT, "too many policies for one reply") : 0;
}

int keeper_answer_policy_delete(struct kreq *r)
{
	char path[KW_NAME_MAX + 32];
	int s;

	if ((s = policy_path(r, path, sizeof(path))) != 0 ||
	    (s = keeper_authorize(r, path, CAP_DELETE)) != 0)
		return s;
	if (strcmp(r->name, "root") == 0 || strcmp(r->name, "default") == 0)
		return kreq_fail(r, KW_ERR_INVALID, "the %s policy cannot be deleted", r->name);
	s = kw_store_policy_delete(r->k->store, r->name);
	if (s != 0 && s != KW_ERR_NOT_FOUND)
		return kreq_fail(r, s, "cannot delete policy '%s'", r->name);
	policy_forget(r->k, r->name);
	kw_info("req=%s: policy '%s' deleted by %s", r->req_id, r->name, r->id.accessor);
	return 0;
}
