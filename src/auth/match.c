/*
 * match.c: the matching a role's bindings need — Vault's glob (go-glob: '*'
 * only) for service-account names, namespaces and bound claims, and SPIFFE
 * ID patterns for allowed_uri_sans, where '*' stays inside one path segment.
 */
#include <string.h>

#include "auth_int.h"

#define SPIFFE_SCHEME "spiffe://"

/*
 * '*' matches any run of characters. When a literal fails after a star, the
 * star takes one more character and we retry from there; only the last
 * star needs remembering, because any earlier star's choices are covered by
 * the later one's (linear in practice, quadratic at worst, no recursion).
 */
static bool glob_match_n(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

bool kw_auth_glob_match(const char *pattern, const char *s)
{
	return glob_match_n(pattern, strlen(pattern), s, strlen(s));
}

bool kw_auth_glob_match_any(const char *const *patterns, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (kw_auth_glob_match(patterns[i], s))
			return true;
	return false;
}

/* ---- SPIFFE IDs (SPIFFE-ID specification, sections 2.1 and 2.2) ---- */

static bool td_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool path_char(char c, bool pattern)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_' || (pattern && c == '*');
}

/* Length of the segment at s (up to the next '/' or the end). */
static size_t segment_len(const char *s)
{
	const char *slash = strchr(s, '/');

	return slash != NULL ? (size_t)(slash - s) : strlen(s);
}

static bool segment_ok(const char *s, size_t n, bool pattern)
{
	/* Empty, "." and ".." segments are refused so that one ID has one
	 * spelling: no path normalisation can make two IDs equal. */
	if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!path_char(s[i], pattern))
			return false;
	return true;
}

/* Check an ID or a pattern; *path is where its path starts. */
static int spiffe_check(const char *id, bool pattern, size_t *td_len, const char **path)
{
	size_t n = strlen(id), plen = strlen(SPIFFE_SCHEME), td;
	const char *s;

	if (n > KW_AUTH_SPIFFE_ID_MAX || strncmp(id, SPIFFE_SCHEME, plen) != 0)
		return KW_ERR_INVALID;
	s = id + plen;
	td = segment_len(s);
	if (td == 0)
		return KW_ERR_INVALID;
	for (size_t i = 0; i < td; i++)
		if (!td_char(s[i]))
			return KW_ERR_INVALID;
	*td_len = td;
	*path = s + td;
	for (s += td; *s == '/'; s += 1 + segment_len(s + 1))
		if (!segment_ok(s + 1, segment_len(s + 1), pattern))
			return KW_ERR_INVALID;
	return *s == '\0' ? 0 : KW_ERR_INVALID;
}

int kw_auth_spiffe_id_check(const char *id)
{
	size_t td;
	const char *path;

	return spiffe_check(id, false, &td, &path);
}

int kw_auth_spiffe_pattern_check(const char *pattern)
{
	size_t td;
	const char *path;

	return spiffe_check(pattern, true, &td, &path);
}

bool kw_auth_spiffe_match(const char *pattern, const char *id)
{
	size_t ptd, itd;
	const char *pp, *ip;

	if (spiffe_check(pattern, true, &ptd, &pp) != 0 || spiffe_check(id, false, &itd, &ip) != 0)
		return false;
	if (ptd != itd || memcmp(pattern, id, strlen(SPIFFE_SCHEME) + ptd) != 0)
		return false;
	/* Both are now sequences of "/segment"; walk them in step. */
	while (*pp == '/' && *ip == '/') {
		size_t pn = segment_len(pp + 1), in = segment_len(ip + 1);

		if (!glob_match_n(pp + 1, pn, ip + 1, in))
			return false;
		pp += 1 + pn;
		ip += 1 + in;
	}
	return *pp == '\0' && *ip == '\0';
}
