/* test_shamir.c: Shamir secret sharing — recovery, too few shares, bad shares. */
#include <stdlib.h>
#include <string.h>

#include "crypto_tests.h"

#define SECRET_BYTES 32

static const uint8_t secret[SECRET_BYTES] = {
    0x00, 0x01, 0x02, 0x03, 0x10, 0x20, 0x40, 0x80, 0xff, 0xfe, 0xaa, 0x55, 0xde, 0xad, 0xbe, 0xef,
    0x13, 0x37, 0x42, 0x99, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x80, 0x81, 0xc3, 0x3c, 0x5a, 0xa5, 0x01,
};
static const size_t sharelen = SECRET_BYTES + 1;

static uint8_t *split(unsigned n, unsigned t)
{
	uint8_t *shares = NULL;

	assert_int_equal(kw_shamir_split(secret, sizeof(secret), n, t, &shares), 0);
	assert_non_null(shares);
	return shares;
}

void test_shamir_every_subset(void **state)
{
	uint8_t *shares = split(5, 3);
	const uint8_t *all[5];
	uint8_t got[SECRET_BYTES];
	unsigned tried = 0;

	for (unsigned a = 0; a < 5; a++) {
		for (unsigned b = a + 1; b < 5; b++) {
			for (unsigned c = b + 1; c < 5; c++) {
				/* Any order works too: reverse the triple. */
				const uint8_t *set[3] = {shares + c * sharelen,
				                         shares + b * sharelen,
				                         shares + a * sharelen};

				memset(got, 0, sizeof(got));
				assert_int_equal(kw_shamir_combine(set, 3, sharelen, got), 0);
				assert_memory_equal(got, secret, sizeof(secret));
				tried++;
			}
		}
	}
	assert_int_equal(tried, 10);
	/* More shares than the threshold also recover it. */
	for (unsigned i = 0; i < 5; i++)
		all[i] = shares + i * sharelen;
	assert_int_equal(kw_shamir_combine(all, 5, sharelen, got), 0);
	assert_memory_equal(got, secret, sizeof(secret));
	kw_secure_free(shares, 5 * sharelen);
}

void test_shamir_too_few(void **state)
{
	uint8_t *shares = split(5, 3);

	for (unsigned a = 0; a < 5; a++) {
		for (unsigned b = a + 1; b < 5; b++) {
			const uint8_t *set[2] = {shares + a * sharelen, shares + b * sharelen};
			uint8_t got[SECRET_BYTES];

			/* It "combines" (nothing can tell), but not to the secret. */
			assert_int_equal(kw_shamir_combine(set, 2, sharelen, got), 0);
			assert_memory_not_equal(got, secret, sizeof(secret));
		}
	}
	kw_secure_free(shares, 5 * sharelen);
}

void test_shamir_duplicate_x(void **state)
{
	uint8_t *shares = split(5, 3);
	uint8_t got[SECRET_BYTES] = {0}, copy[SECRET_BYTES + 1];
	const uint8_t *same[3] = {shares, shares + sharelen, shares};
	const uint8_t *forged[3] = {shares, shares + sharelen, copy};

	assert_int_equal(kw_shamir_combine(same, 3, sharelen, got), KW_ERR_BAD_SHARE);
	/* Different y bytes under an x already used are refused just the same. */
	memcpy(copy, shares + 2 * sharelen, sharelen);
	copy[SECRET_BYTES] = shares[SECRET_BYTES];
	assert_int_equal(kw_shamir_combine(forged, 3, sharelen, got), KW_ERR_BAD_SHARE);
	/* x = 0 would be the secret itself: never a valid share. */
	copy[SECRET_BYTES] = 0;
	assert_int_equal(kw_shamir_combine(forged, 3, sharelen, got), KW_ERR_BAD_SHARE);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
	kw_secure_free(shares, 5 * sharelen);
}

void test_shamir_bad_args(void **state)
{
	uint8_t *shares = NULL;
	uint8_t got[SECRET_BYTES];
	const uint8_t *none[1] = {NULL};

	assert_int_equal(kw_shamir_split(secret, sizeof(secret), 5, 1, &shares), KW_ERR_INVALID);
	assert_int_equal(kw_shamir_split(secret, sizeof(secret), 2, 3, &shares), KW_ERR_INVALID);
	assert_int_equal(kw_shamir_split(secret, sizeof(secret), 256, 3, &shares), KW_ERR_INVALID);
	assert_int_equal(kw_shamir_split(secret, sizeof(secret), 0, 0, &shares), KW_ERR_INVALID);
	assert_int_equal(kw_shamir_split(secret, 0, 5, 3, &shares), KW_ERR_INVALID);
	assert_null(shares);
	assert_int_equal(kw_shamir_combine(none, 0, sharelen, got), KW_ERR_INVALID);
	assert_int_equal(kw_shamir_combine(none, 1, sharelen, got), KW_ERR_INVALID);
	assert_int_equal(kw_shamir_combine(none, 1, 1, got), KW_ERR_INVALID);
}

void test_shamir_one_of_one(void **state)
{
	uint8_t *shares = split(1, 1);
	const uint8_t *set[1] = {shares};
	uint8_t got[SECRET_BYTES];

	/* The share is the secret followed by a non-zero x byte. */
	assert_memory_equal(shares, secret, sizeof(secret));
	assert_int_not_equal(shares[SECRET_BYTES], 0);
	assert_int_equal(kw_shamir_combine(set, 1, sharelen, got), 0);
	assert_memory_equal(got, secret, sizeof(secret));
	kw_secure_free(shares, sharelen);
}

void test_shamir_x_coordinates(void **state)
{
	uint8_t *shares = split(KW_SHAMIR_SHARES_MAX, 2);
	uint8_t *again = split(5, 2);
	const uint8_t *pair[2];
	bool seen[256] = {false};
	uint8_t got[SECRET_BYTES];
	bool differs = false;

	/* 255 shares use every non-zero x exactly once. */
	for (unsigned i = 0; i < KW_SHAMIR_SHARES_MAX; i++) {
		uint8_t x = shares[i * sharelen + SECRET_BYTES];

		assert_int_not_equal(x, 0);
		assert_false(seen[x]);
		seen[x] = true;
	}
	/* And x values are drawn at random: two splits' first five agree with p < 1e-11. */
	for (unsigned i = 0; i < 5; i++)
		differs |=
		    again[i * sharelen + SECRET_BYTES] != shares[i * sharelen + SECRET_BYTES];
	assert_true(differs);
	/* The last and first of 255 shares still recover the secret. */
	pair[0] = shares + (KW_SHAMIR_SHARES_MAX - 1) * sharelen;
	pair[1] = shares;
	assert_int_equal(kw_shamir_combine(pair, 2, sharelen, got), 0);
	assert_memory_equal(got, secret, sizeof(secret));
	kw_secure_free(again, 5 * sharelen);
	kw_secure_free(shares, KW_SHAMIR_SHARES_MAX * sharelen);
}

/*
 * Shares made independently (a short Python script, AES field, fixed
 * coefficients, threshold 3) must combine to their secret: this pins the
 * field and the layout, so shares handed out by one keyward version open
 * with the next. The field is the one Vault's tables use (generator 0xe5).
 */
void test_shamir_known_shares(void **state)
{
	static const char *const hex[] = {"2026225c42699701", "fbc0bf7f42bc5c7f",
	                                  "7a9b784957a94ae3", "49922064c2263442"};
	const uint8_t *a[3], *b[3];
	uint8_t *sh[4];
	size_t len = 0;
	uint8_t got[7];

	for (unsigned i = 0; i < 4; i++)
		sh[i] = t_unhex(hex[i], &len);
	a[0] = sh[0];
	a[1] = sh[1];
	a[2] = sh[3];
	b[0] = sh[2];
	b[1] = sh[3];
	b[2] = sh[1];
	assert_int_equal(kw_shamir_combine(a, 3, len, got), 0);
	assert_memory_equal(got, "keyward", 7);
	assert_int_equal(kw_shamir_combine(b, 3, len, got), 0);
	assert_memory_equal(got, "keyward", 7);
	for (unsigned i = 0; i < 4; i++)
		free(sh[i]);
}
