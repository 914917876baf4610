/* Unit tests for src/common: base64 strictness, buffers, durations, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../src/common/common.h"

static void b64_roundtrip(void **state)
{
	const uint8_t in[] = "any carnal pleasure.";
	for (size_t n = 0; n < sizeof(in); n++) {
		char *s;
		uint8_t *d;
		size_t dl;
		assert_int_equal(kw_base64_encode(in, n, &s), 0);
		assert_int_equal(strlen(s) % 4, 0);
		assert_int_equal(kw_base64_decode(s, strlen(s), &d, &dl), 0);
		assert_int_equal(dl, n);
		assert_memory_equal(d, in, n);
		free(s);
		free(d);
	}
}

static void b64_rfc4648_vectors(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < KW_ARRAY_LEN(plain); i++) {
		char *s;
		assert_int_equal(kw_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), &s),
		                 0);
		assert_string_equal(s, enc[i]);
		free(s);
	}
}

static void b64_rejects_bad(void **state)
{
	static const char *const bad[] = {"Zg=",  "Zg",   "Z===", "Zm9v!",    "Zm 9v",
	                                  "Zh==", "Zm9=", "====", "Zg==Zg==", "-_8="};
	for (size_t i = 0; i < KW_ARRAY_LEN(bad); i++) {
		uint8_t *d = NULL;
		size_t dl;
		assert_int_equal(kw_base64_decode(bad[i], strlen(bad[i]), &d, &dl), KW_ERR_BASE64);
		assert_null(d);
	}
}

static void b64url_unpadded(void **state)
{
	const uint8_t in[] = {0xfb, 0xff, 0xfe};
	char *s;
	uint8_t *d;
	size_t dl;
	assert_int_equal(kw_base64url_encode(in, sizeof(in), &s), 0);
	assert_string_equal(s, "-__-");
	assert_int_equal(kw_base64url_decode("-_8", 3, &d, &dl), 0);
	assert_int_equal(dl, 2);
	assert_int_equal(d[0], 0xfb);
	free(s);
	free(d);
}

static void hex_roundtrip(void **state)
{
	const uint8_t in[] = {0x00, 0xab, 0xff};
	char *s;
	uint8_t *d;
	size_t dl;
	assert_int_equal(kw_hex_encode(in, sizeof(in), &s), 0);
	assert_string_equal(s, "00abff");
	assert_int_equal(kw_hex_decode("00ABff", 6, &d, &dl), 0);
	assert_memory_equal(d, in, 3);
	free(d);
	assert_int_equal(kw_hex_decode("0g", 2, &d, &dl), KW_ERR_INVALID);
	assert_int_equal(kw_hex_decode("abc", 3, &d, &dl), KW_ERR_INVALID);
	free(s);
}

static void buf_grows_and_wipes(void **state)
{
	struct kw_buf b;
	kw_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(kw_buf_append_u32(&b, (uint32_t)i), 0);
	assert_int_equal(b.len, 4000);
	assert_int_equal(kw_load_u32(b.data + 4 * 999), 999);
	kw_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.data[0], 0);
	kw_buf_cleanup(&b);
	assert_null(b.data);
}

/* Formatted appends, across reallocations, with no NUL left in the length. */
static void buf_appendf(void **state)
{
	struct kw_buf b;
	char want[64];

	kw_buf_init(&b);
	assert_int_equal(kw_buf_appendf(&b, "%s=%d", "a", 1), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a=1", 3);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(kw_buf_appendf(&b, " %04d", i), 0);
	assert_int_equal(b.len, 3 + 1000 * 5);
	snprintf(want, sizeof(want), " %04d", 999);
	assert_memory_equal(b.data + b.len - 5, want, 5);
	assert_int_equal(kw_buf_appendf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 3 + 1000 * 5);
	kw_buf_cleanup(&b);
}

static void duration_parse(void **state)
{
	int64_t s;
	assert_int_equal(kw_duration_parse("3600", &s), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(kw_duration_parse("1h30m", &s), 0);
	assert_int_equal(s, 5400);
	assert_int_equal(kw_duration_parse("768h", &s), 0);
	assert_int_equal(s, 768 * 3600);
	assert_int_equal(kw_duration_parse("10x", &s), KW_ERR_INVALID);
	assert_int_equal(kw_duration_parse("", &s), KW_ERR_INVALID);
	assert_int_equal(kw_duration_parse("-5s", &s), KW_ERR_INVALID);
	assert_int_equal(kw_duration_parse("5s10", &s), KW_ERR_INVALID);
}

static void err_table_is_consistent(void **state)
{
	assert_string_equal(kw_err_code(KW_ERR_NOT_FOUND), "not_found");
	assert_int_equal(kw_err_from_code("sealed"), KW_ERR_SEALED);
	assert_string_equal(kw_err_code(12345), "unknown");
	/* Every code is unique: a client maps codes back to errors. */
	for (int a = -1; a >= KW_ERR_LIMIT; a--)
		assert_int_equal(kw_err_from_code(kw_err_code(a)), a);
}

static void secure_alloc_is_zeroed(void **state)
{
	assert_int_equal(kw_secure_heap_init(1 << 16), 0);
	assert_true(kw_secure_heap_active());
	uint8_t *p = kw_secure_alloc(64);
	assert_non_null(p);
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], 0);
	kw_secure_free(p, 64);
	assert_true(kw_ct_equal("abc", "abc", 3));
	assert_false(kw_ct_equal("abc", "abd", 3));
}

static void cidr_parse_and_match(void **state)
{
	struct kw_cidr c;
	static const char *const bad[] = {"",
	                                  "10.0.0.1/8",
	                                  "10.0.0.0/33",
	                                  "10.0.0.0/",
	                                  "10.0.0.0/-1",
	                                  "10.0.0.0/08",
	                                  "::1/129",
	                                  "fd00::1/8",
	                                  "host",
	                                  "10.0.0.0/8x",
	                                  "::ffff:10.0.0.0/104"};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kw_cidr_parse(bad[i], &c), KW_ERR_INVALID);
	assert_int_equal(kw_cidr_parse("10.0.0.0/8", &c), 0);
	assert_true(kw_cidr_match(&c, "10.255.0.7"));
	assert_false(kw_cidr_match(&c, "11.0.0.1"));
	assert_false(kw_cidr_match(&c, "fd00::1"));
	assert_false(kw_cidr_match(&c, "not an address"));
	/* a dual-stack socket reports IPv4 clients as mapped addresses */
	assert_true(kw_cidr_match(&c, "::ffff:10.1.2.3"));
	assert_int_equal(kw_cidr_parse("127.0.0.2", &c), 0);
	assert_true(kw_cidr_match(&c, "127.0.0.2"));
	assert_false(kw_cidr_match(&c, "127.0.0.1"));
	assert_int_equal(kw_cidr_parse("10.128.0.0/9", &c), 0);
	assert_true(kw_cidr_match(&c, "10.200.0.1"));
	assert_false(kw_cidr_match(&c, "10.127.0.1"));
	assert_int_equal(kw_cidr_parse("fd00::/8", &c), 0);
	assert_true(kw_cidr_match(&c, "fdff::1"));
	assert_false(kw_cidr_match(&c, "fe00::1"));
	assert_false(kw_cidr_match(&c, "10.0.0.1"));
	assert_int_equal(kw_cidr_parse("0.0.0.0/0", &c), 0);
	assert_true(kw_cidr_match(&c, "192.0.2.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(b64_roundtrip),
	    cmocka_unit_test(b64_rfc4648_vectors),
	    cmocka_unit_test(b64_rejects_bad),
	    cmocka_unit_test(b64url_unpadded),
	    cmocka_unit_test(hex_roundtrip),
	    cmocka_unit_test(buf_grows_and_wipes),
	    cmocka_unit_test(buf_appendf),
	    cmocka_unit_test(duration_parse),
	    cmocka_unit_test(err_table_is_consistent),
	    cmocka_unit_test(secure_alloc_is_zeroed),
	    cmocka_unit_test(cidr_parse_and_match),
	};
	return cmocka_run_group_tests_name("/common", tests, NULL, NULL);
}
