/*
 * test_match.c: Vault's glob (go-glob semantics) and SPIFFE ID patterns,
 * where '*' never crosses a '/'.
 */
#include <string.h>

#include "auth_tests.h"

struct case_ {
	const char *pattern, *s;
	bool match;
};

void test_glob(void **state)
{
	static const struct case_ cases[] = {
	    {"*", "", true},
	    {"*", "anything/at:all", true},
	    {"", "", true},
	    {"", "a", false},
	    {"api", "api", true},
	    {"api", "api2", false},
	    {"api", "Api", false},
	    {"api-*", "api-payments", true},
	    {"api-*", "api-", true},
	    {"api-*", "ap", false},
	    {"*-prod", "payments-prod", true},
	    {"*-prod", "payments-prod2", false},
	    {"team-*-prod", "team-a-prod", true},
	    {"team-*-prod", "team--prod", true},
	    {"team-*-prod", "team-prod", false},
	    {"a*b*c", "abc", true},
	    {"a*b*c", "axxbyyc", true},
	    {"a*b*c", "acb", false},
	    {"a*a", "a", false},
	    {"a*a", "aa", true},
	    {"*a*", "bab", true},
	    {"**", "x", true},
	    {"repo:acme/*", "repo:acme/app:ref:refs/heads/main", true},
	    {"?", "a", false}, /* no other metacharacters */
	    {"[ab]", "a", false},
	};
	const char *const list[] = {"web", "api-*"};

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		if (kw_auth_glob_match(cases[i].pattern, cases[i].s) != cases[i].match)
			fail_msg("glob %zu: \"%s\" ~ \"%s\" should be %d", i, cases[i].pattern,
			         cases[i].s, cases[i].match);
	}
	assert_true(kw_auth_glob_match_any(list, 2, "api-x"));
	assert_true(kw_auth_glob_match_any(list, 2, "web"));
	assert_false(kw_auth_glob_match_any(list, 2, "webs"));
	assert_false(kw_auth_glob_match_any(list, 0, "web"));
}

void test_spiffe_ids(void **state)
{
	static const char *const good[] = {
	    "spiffe://prod",
	    "spiffe://prod/ns/payments/sa/api",
	    "spiffe://example.org/a_b/C-d/e.f",
	    "spiffe://td-1.example/x",
	};
	static const char *const bad[] = {
	    "",
	    "spiffe:/prod",
	    "SPIFFE://prod",
	    "https://prod/x",
	    "spiffe://",
	    "spiffe:///x",
	    "spiffe://Prod/x",
	    "spiffe://prod/",
	    "spiffe://prod//x",
	    "spiffe://prod/./x",
	    "spiffe://prod/../x",
	    "spiffe://prod/a%20b",
	    "spiffe://prod/x?q=1",
	    "spiffe://prod/x#f",
	    "spiffe://user@prod/x",
	    "spiffe://prod:443/x",
	    "spiffe://prod/*",
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(good); i++)
		assert_int_equal(kw_auth_spiffe_id_check(good[i]), 0);
	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++)
		if (kw_auth_spiffe_id_check(bad[i]) != KW_ERR_INVALID)
			fail_msg("\"%s\" accepted as a SPIFFE ID", bad[i]);
	assert_int_equal(kw_auth_spiffe_pattern_check("spiffe://prod/ns/*/sa/*"), 0);
	assert_int_equal(kw_auth_spiffe_pattern_check("spiffe://prod/ns/pay*/sa/api-*"), 0);
	/* The trust domain is literal: a wildcard there trusts other domains. */
	assert_int_equal(kw_auth_spiffe_pattern_check("spiffe://*/ns/a"), KW_ERR_INVALID);
	assert_int_equal(kw_auth_spiffe_pattern_check("spiffe://prod*/ns/a"), KW_ERR_INVALID);
	assert_int_equal(kw_auth_spiffe_pattern_check("spiffe://prod/ns/*/"), KW_ERR_INVALID);
}

void test_spiffe_match(void **state)
{
	static const struct case_ cases[] = {
	    {"spiffe://prod/ns/*/sa/*", "spiffe://prod/ns/payments/sa/api", true},
	    {"spiffe://prod/ns/*/sa/*", "spiffe://prod/ns/a/b/sa/api", false},
	    {"spiffe://prod/ns/*/sa/*", "spiffe://prod/ns/payments/sa/api/extra", false},
	    {"spiffe://prod/ns/*/sa/*", "spiffe://prod/ns/payments/sa", false},
	    {"spiffe://prod/ns/*/sa/*", "spiffe://staging/ns/payments/sa/api", false},
	    {"spiffe://prod/ns/*/sa/*", "spiffe://prod.evil/ns/payments/sa/api", false},
	    {"spiffe://prod/ns/payments/sa/api", "spiffe://prod/ns/payments/sa/api", true},
	    {"spiffe://prod/ns/payments/sa/api", "spiffe://prod/ns/payments/sa/api2", false},
	    {"spiffe://prod/ns/pay*/sa/api-*", "spiffe://prod/ns/payments/sa/api-v2", true},
	    {"spiffe://prod/ns/pay*/sa/api-*", "spiffe://prod/ns/billing/sa/api-v2", false},
	    {"spiffe://prod/*", "spiffe://prod/anything", true},
	    {"spiffe://prod/*", "spiffe://prod/any/thing", false},
	    {"spiffe://prod", "spiffe://prod", true},
	    {"spiffe://prod", "spiffe://prod/x", false},
	    /* Invalid on either side never matches. */
	    {"spiffe://*/ns/a", "spiffe://prod/ns/a", false},
	    {"spiffe://prod/ns/*", "spiffe://prod/ns/../x", false},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(cases); i++) {
		if (kw_auth_spiffe_match(cases[i].pattern, cases[i].s) != cases[i].match)
			fail_msg("spiffe %zu: \"%s\" ~ \"%s\" should be %d", i, cases[i].pattern,
			         cases[i].s, cases[i].match);
	}
}
