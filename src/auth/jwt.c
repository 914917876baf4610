/*
 * jwt.c: what a verified JWT says — the reason table, the options, the
 * registered-claims checks (RFC 7519 section 4.1: exp, nbf, iat, iss, aud,
 * sub), the accessors, and generic claim access for the jwt method (plain
 * names and RFC 6901 JSON pointers, scalars as text, bound_claims matching).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"

/* ---- reasons ---- */

static const struct {
	const char *code, *text;
} auth_reasons[] = {
#define KW_AUTH_REASON_ROW(name, code, text) {code, text},
    KW_AUTH_REASON_LIST(KW_AUTH_REASON_ROW)
#undef KW_AUTH_REASON_ROW
};

const char *kw_auth_reason_code(enum kw_auth_reason r)
{
	return (size_t)r < KW_ARRAY_LEN(auth_reasons) ? auth_reasons[r].code : "unknown";
}

const char *kw_auth_reason_str(enum kw_auth_reason r)
{
	return (size_t)r < KW_ARRAY_LEN(auth_reasons) ? auth_reasons[r].text : "unknown reason";
}

/* ---- options ---- */

void kw_auth_jwt_opts_init(struct kw_auth_jwt_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->exp_leeway = KW_AUTH_LEEWAY_DEFAULT;
	o->nbf_leeway = KW_AUTH_LEEWAY_DEFAULT;
	o->iat_leeway = KW_AUTH_LEEWAY_DEFAULT;
}

static bool leeway_ok(int64_t l)
{
	return l >= 0 && l <= KW_AUTH_LEEWAY_MAX;
}

int auth_jwt_opts_check(const struct kw_auth_jwt_opts *o)
{
	if (!leeway_ok(o->exp_leeway) || !leeway_ok(o->nbf_leeway) || !leeway_ok(o->iat_leeway))
		return KW_ERR_INVALID;
	if ((o->nissuers > 0 && o->issuers == NULL) || (o->naudiences > 0 && o->audiences == NULL))
		return KW_ERR_INVALID;
	for (size_t i = 0; i < o->nissuers; i++)
		if (o->issuers[i] == NULL)
			return KW_ERR_INVALID;
	for (size_t i = 0; i < o->naudiences; i++)
		if (o->audiences[i] == NULL)
			return KW_ERR_INVALID;
	return 0;
}

/* ---- JSON ---- */

int auth_json_object(const uint8_t *p, size_t n, json_t **out, bool *duplicate)
{
	json_error_t jerr;
	json_t *j;

	/* One reading per text: a duplicate key could mean one thing to us and
	 * another to whoever signed it. NUL in strings is refused by default. */
	j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		*duplicate = json_error_code(&jerr) == json_error_duplicate_key;
		return json_error_code(&jerr) == json_error_out_of_memory ? KW_ERR_NOMEM
		                                                          : KW_ERR_INVALID;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return KW_ERR_INVALID;
	}
	*out = j;
	return 0;
}

/* ---- registered claims ---- */

/* A NumericDate (RFC 7519 section 2): integer or real seconds, whole part kept. */
static int numeric_date(const json_t *v, int64_t *out)
{
	double d;

	if (json_is_integer(v)) {
		json_int_t t = json_integer_value(v);

		if (t < 0 || t > AUTH_TIME_MAX)
			return KW_ERR_INVALID;
		*out = (int64_t)t;
		return 0;
	}
	if (!json_is_real(v))
		return KW_ERR_INVALID;
	d = json_real_value(v);
	if (!(d >= 0 && d <= (double)AUTH_TIME_MAX))
		return KW_ERR_INVALID;
	*out = (int64_t)d;
	return 0;
}

/* An optional time claim: *t = 0 when absent. */
static int time_claim(const json_t *claims, const char *name, int64_t *t, bool *present)
{
	const json_t *v = json_object_get(claims, name);

	*t = 0;
	*present = v != NULL;
	return v == NULL ? 0 : numeric_date(v, t);
}

static int time_check(const struct kw_auth_jwt_opts *o, struct kw_auth_jwt *jwt, int64_t now,
                      enum kw_auth_reason *why)
{
	bool has_exp, has_nbf, has_iat;

	if (time_claim(jwt->claims, "exp", &jwt->exp, &has_exp) != 0 ||
	    time_claim(jwt->claims, "nbf", &jwt->nbf, &has_nbf) != 0 ||
	    time_claim(jwt->claims, "iat", &jwt->iat, &has_iat) != 0)
		return auth_refuse(why, KW_AUTH_BAD_TIME);
	if (!has_exp && !o->allow_missing_exp)
		return auth_refuse(why, KW_AUTH_EXP_MISSING);
	/* RFC 7519 4.1.4: now must be before exp. */
	if (has_exp && now - o->exp_leeway >= jwt->exp)
		return auth_refuse(why, KW_AUTH_EXPIRED);
	if (has_nbf && now + o->nbf_leeway < jwt->nbf)
		return auth_refuse(why, KW_AUTH_NOT_YET_VALID);
	/* As kube-apiserver (go-jose): a token issued in the future is refused. */
	if (has_iat && now + o->iat_leeway < jwt->iat)
		return auth_refuse(why, KW_AUTH_ISSUED_IN_FUTURE);
	return 0;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static int iss_check(const struct kw_auth_jwt_opts *o, struct kw_auth_jwt *jwt,
                     enum kw_auth_reason *why)
{
	const json_t *v = json_object_get(jwt->claims, "iss");

	if (v != NULL && !json_is_string(v))
		return auth_refuse(why, KW_AUTH_BAD_CLAIM);
	jwt->iss = v != NULL ? json_string_value(v) : NULL;
	if (o->nissuers > 0 && (jwt->iss == NULL || !in_list(jwt->iss, o->issuers, o->nissuers)))
		return auth_refuse(why, KW_AUTH_ISS_MISMATCH);
	return 0;
}

/* aud is a string or an array of strings (RFC 7519 4.1.3). */
static int aud_check(const struct kw_auth_jwt_opts *o, const struct kw_auth_jwt *jwt,
                     enum kw_auth_reason *why)
{
	const json_t *v = json_object_get(jwt->claims, "aud"), *e;
	bool found = false;
	size_t i;

	if (v == NULL)
		return o->naudiences > 0 ? auth_refuse(why, KW_AUTH_AUD_MISMATCH) : 0;
	if (json_is_string(v)) {
		found = in_list(json_string_value(v), o->audiences, o->naudiences);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return auth_refuse(why, KW_AUTH_BAD_CLAIM);
			found = found || in_list(json_string_value(e), o->audiences, o->naudiences);
		}
	} else {
		return auth_refuse(why, KW_AUTH_BAD_CLAIM);
	}
	if (o->naudiences > 0 && !found)
		return auth_refuse(why, KW_AUTH_AUD_MISMATCH);
	return 0;
}

int auth_claims_check(const struct kw_auth_jwt_opts *o, struct kw_auth_jwt *jwt, int64_t now,
                      enum kw_auth_reason *why)
{
	const json_t *sub;
	int r;

	r = time_check(o, jwt, now, why);
	if (r == 0)
		r = iss_check(o, jwt, why);
	if (r == 0)
		r = aud_check(o, jwt, why);
	if (r != 0)
		return r;
	/* Identities are built from sub; a number or object there is a forgery
	 * or a bug, never a name. */
	sub = json_object_get(jwt->claims, "sub");
	if (!json_is_string(sub))
		return auth_refuse(why, KW_AUTH_SUB_NOT_STRING);
	jwt->sub = json_string_value(sub);
	return 0;
}

/* ---- the verified token ---- */

void kw_auth_jwt_free(struct kw_auth_jwt *jwt)
{
	if (jwt == NULL)
		return;
	free(jwt->alg);
	free(jwt->kid);
	free(jwt->key_kid);
	json_decref(jwt->claims);
	free(jwt);
}

const char *kw_auth_jwt_alg(const struct kw_auth_jwt *jwt)
{
	return jwt->alg;
}

const char *kw_auth_jwt_kid(const struct kw_auth_jwt *jwt)
{
	return jwt->kid;
}

const char *kw_auth_jwt_key_kid(const struct kw_auth_jwt *jwt)
{
	return jwt->key_kid;
}

const char *kw_auth_jwt_sub(const struct kw_auth_jwt *jwt)
{
	return jwt->sub;
}

const char *kw_auth_jwt_iss(const struct kw_auth_jwt *jwt)
{
	return jwt->iss;
}

int64_t kw_auth_jwt_exp(const struct kw_auth_jwt *jwt)
{
	return jwt->exp;
}

int64_t kw_auth_jwt_iat(const struct kw_auth_jwt *jwt)
{
	return jwt->iat;
}

const json_t *kw_auth_jwt_claims(const struct kw_auth_jwt *jwt)
{
	return jwt->claims;
}

/* ---- generic claims ---- */

/* An RFC 6901 array index: "0" or digits without a leading zero. */
static bool pointer_index(const char *tok, size_t *idx)
{
	size_t v = 0;

	if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0'))
		return false;
	for (const char *p = tok; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(*p - '0');
	}
	*idx = v;
	return true;
}

/* The next reference token of a pointer, unescaped (~1 is '/', ~0 is '~'). */
static bool pointer_token(const char **p, char *tok)
{
	const char *s = *p;
	size_t o = 0;

	for (; *s != '\0' && *s != '/'; s++) {
		if (*s != '~') {
			tok[o++] = *s;
			continue;
		}
		if (s[1] != '0' && s[1] != '1')
			return false;
		tok[o++] = s[1] == '0' ? '~' : '/';
		s++;
	}
	tok[o] = '\0';
	*p = s;
	return true;
}

static const json_t *pointer_step(const json_t *cur, const char *tok)
{
	size_t idx;

	if (json_is_object(cur))
		return json_object_get(cur, tok);
	if (json_is_array(cur) && pointer_index(tok, &idx))
		return json_array_get(cur, idx);
	return NULL;
}

static int pointer_find(const json_t *doc, const char *ptr, const json_t **out)
{
	char *tok = malloc(strlen(ptr) + 1);
	const json_t *cur = doc;
	int r = KW_ERR_NOMEM;

	if (tok == NULL)
		goto out;
	r = KW_ERR_NOT_FOUND;
	while (*ptr == '/' && cur != NULL) {
		ptr++;
		if (!pointer_token(&ptr, tok))
			goto out;
		cur = pointer_step(cur, tok);
	}
	if (cur == NULL)
		goto out;
	*out = cur;
	r = 0;
out:
	free(tok);
	return r;
}

int kw_auth_jwt_claim_find(const struct kw_auth_jwt *jwt, const char *selector, const json_t **out)
{
	const json_t *v;

	if (selector[0] == '/')
		return pointer_find(jwt->claims, selector, out);
	v = json_object_get(jwt->claims, selector);
	if (v == NULL)
		return KW_ERR_NOT_FOUND;
	*out = v;
	return 0;
}

/* The shortest %g that reads back as the same double. */
static void real_format(double d, char *buf, size_t len)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

int kw_auth_claim_string(const json_t *v, char **out)
{
	char buf[64];
	char *s;

	if (json_is_string(v)) {
		s = kw_strdup(json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		s = kw_strdup(buf);
	} else if (json_is_real(v) && isfinite(json_real_value(v))) {
		real_format(json_real_value(v), buf, sizeof(buf));
		s = kw_strdup(buf);
	} else if (json_is_boolean(v)) {
		s = kw_strdup(json_is_true(v) ? "true" : "false");
	} else {
		return KW_ERR_INVALID;
	}
	if (s == NULL)
		return KW_ERR_NOMEM;
	*out = s;
	return 0;
}

int kw_auth_jwt_claim_string(const struct kw_auth_jwt *jwt, const char *selector, char **out)
{
	const json_t *v;
	int r;

	r = kw_auth_jwt_claim_find(jwt, selector, &v);
	if (r != 0)
		return r;
	return kw_auth_claim_string(v, out);
}

static int scalar_match(const json_t *v, const char *const *values, size_t n, bool glob,
                        bool *matched)
{
	char *s = NULL;
	int r;

	r = kw_auth_claim_string(v, &s);
	if (r == KW_ERR_INVALID) /* null, nested array or object: matches nothing */
		return 0;
	if (r != 0)
		return r;
	for (size_t i = 0; i < n && !*matched; i++)
		*matched = glob ? kw_auth_glob_match(values[i], s) : strcmp(values[i], s) == 0;
	free(s);
	return 0;
}

int kw_auth_jwt_claim_match(const struct kw_auth_jwt *jwt, const char *selector,
                            const char *const *values, size_t nvalues, bool glob, bool *matched)
{
	const json_t *v, *e;
	bool m = false;
	size_t i;
	int r;

	r = kw_auth_jwt_claim_find(jwt, selector, &v);
	if (r != 0)
		return r;
	if (!json_is_array(v)) {
		r = scalar_match(v, values, nvalues, glob, &m);
	} else {
		json_array_foreach(v, i, e)
		{
			r = scalar_match(e, values, nvalues, glob, &m);
			if (r != 0 || m)
				break;
		}
	}
	if (r != 0)
		return r;
	*matched = m;
	return 0;
}
