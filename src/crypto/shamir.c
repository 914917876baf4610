/*
 * shamir.c: Shamir secret sharing over GF(2^8), byte by byte, with Vault's
 * share layout (the y bytes, then the x coordinate).
 *
 * The field is GF(2)[x] / (x^8 + x^4 + x^3 + x + 1), AES's. Multiplication is
 * shift-and-add with masks instead of log/exp tables, so no memory access
 * depends on a secret byte; inversion is a fixed chain of multiplications.
 */
#include <string.h>

#include "crypto_impl.h"

/* The low byte of the field polynomial, x^4 + x^3 + x + 1. */
#define GF_REDUCE 0x1b

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;

	for (int i = 0; i < 8; i++) {
		/* Masks, not branches: the running time is the same for all inputs. */
		r ^= (uint8_t)(-(b & 1) & a);
		a = (uint8_t)((a << 1) ^ (-(a >> 7) & GF_REDUCE));
		b >>= 1;
	}
	return r;
}

/* a^254, which is a^-1 for a != 0 (the multiplicative group has order 255). */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t r = a; /* a^1 */

	/* Six rounds of square-then-multiply give a^127; one more square, a^254. */
	for (int i = 0; i < 6; i++)
		r = gf_mul(gf_mul(r, r), a);
	return gf_mul(r, r);
}

/* The polynomial with coefficients c[0..deg] at x, by Horner's rule. */
static uint8_t poly_eval(const uint8_t *c, unsigned ncoef, uint8_t x)
{
	uint8_t y = 0;

	for (unsigned i = ncoef; i-- > 0;)
		y = (uint8_t)(gf_mul(y, x) ^ c[i]);
	return y;
}

/* A uniform random integer in [0, m), 1 <= m <= 256, by rejection. */
static int random_below(unsigned m, unsigned *out)
{
	unsigned limit = 256 - 256 % m;
	uint8_t b;
	int rc;

	do {
		rc = kw_random(&b, 1);
		if (rc != 0)
			return rc;
	} while (b >= limit);
	*out = b % m;
	return 0;
}

/* n distinct non-zero x coordinates: the head of a random permutation of 1..255. */
static int random_xs(unsigned n, uint8_t xs[KW_SHAMIR_SHARES_MAX])
{
	uint8_t perm[KW_SHAMIR_SHARES_MAX];
	int rc;

	for (unsigned i = 0; i < KW_SHAMIR_SHARES_MAX; i++)
		perm[i] = (uint8_t)(i + 1);
	for (unsigned i = 0; i < n; i++) {
		unsigned j;
		uint8_t tmp;

		rc = random_below(KW_SHAMIR_SHARES_MAX - i, &j);
		if (rc != 0)
			return rc;
		tmp = perm[i];
		perm[i] = perm[i + j];
		perm[i + j] = tmp;
	}
	memcpy(xs, perm, n);
	return 0;
}

static bool split_args_ok(unsigned n, unsigned t)
{
	if (t == 1 && n == 1)
		return true;
	return t >= 2 && t <= n && n <= KW_SHAMIR_SHARES_MAX;
}

int kw_shamir_split(const uint8_t *secret, size_t secretlen, unsigned n, unsigned t,
                    uint8_t **shares)
{
	uint8_t xs[KW_SHAMIR_SHARES_MAX];
	uint8_t coef[KW_SHAMIR_SHARES_MAX];
	size_t sharelen, total = 0;
	uint8_t *buf = NULL;
	int rc;

	if (secret == NULL || secretlen == 0 || shares == NULL || !split_args_ok(n, t))
		return KW_ERR_INVALID;
	if (secretlen > (SIZE_MAX - 1) / KW_SHAMIR_SHARES_MAX - 1)
		return KW_ERR_TOO_LARGE;
	sharelen = secretlen + 1;
	total = n * sharelen;
	rc = random_xs(n, xs);
	if (rc != 0)
		return rc;
	buf = kw_secure_alloc(total);
	if (buf == NULL)
		return KW_ERR_NOMEM;
	for (size_t b = 0; b < secretlen; b++) {
		/* A fresh polynomial of degree t - 1 per byte, its constant term the secret. */
		coef[0] = secret[b];
		rc = kw_random(coef + 1, t - 1);
		if (rc != 0)
			goto out;
		for (unsigned i = 0; i < n; i++)
			buf[i * sharelen + b] = poly_eval(coef, t, xs[i]);
	}
	for (unsigned i = 0; i < n; i++)
		buf[i * sharelen + secretlen] = xs[i];
out:
	kw_wipe(coef, sizeof(coef));
	if (rc != 0) {
		kw_secure_free(buf, total);
		return rc;
	}
	*shares = buf;
	return 0;
}

/*
 * The shares' x coordinates, which must be non-zero (x = 0 would be the
 * secret itself) and distinct (a repeated point makes interpolation divide
 * by zero, and is a share entered twice).
 */
static int share_xs(const uint8_t *const *shares, unsigned count, size_t sharelen,
                    uint8_t xs[KW_SHAMIR_SHARES_MAX])
{
	bool seen[256] = {false};

	for (unsigned i = 0; i < count; i++) {
		if (shares[i] == NULL)
			return KW_ERR_INVALID;
		xs[i] = shares[i][sharelen - 1];
		if (xs[i] == 0 || seen[xs[i]])
			return KW_ERR_BAD_SHARE;
		seen[xs[i]] = true;
	}
	return 0;
}

/* Lagrange basis polynomials at 0: l_i(0) = prod_{j != i} x_j / (x_i - x_j). */
static void lagrange_at_zero(const uint8_t *xs, unsigned count, uint8_t *basis)
{
	for (unsigned i = 0; i < count; i++) {
		uint8_t num = 1, den = 1;

		for (unsigned j = 0; j < count; j++) {
			if (j == i)
				continue;
			num = gf_mul(num, xs[j]);
			den = gf_mul(den, (uint8_t)(xs[i] ^ xs[j]));
		}
		basis[i] = gf_mul(num, gf_inv(den));
	}
}

int kw_shamir_combine(const uint8_t *const *shares, unsigned count, size_t sharelen,
                      uint8_t *secret_out)
{
	uint8_t xs[KW_SHAMIR_SHARES_MAX], basis[KW_SHAMIR_SHARES_MAX];
	int rc;

	if (shares == NULL || secret_out == NULL || count == 0 || count > KW_SHAMIR_SHARES_MAX ||
	    sharelen < 2)
		return KW_ERR_INVALID;
	rc = share_xs(shares, count, sharelen, xs);
	if (rc != 0)
		return rc;
	lagrange_at_zero(xs, count, basis);
	for (size_t b = 0; b < sharelen - 1; b++) {
		uint8_t y = 0;

		for (unsigned i = 0; i < count; i++)
			y ^= gf_mul(shares[i][b], basis[i]);
		secret_out[b] = y;
	}
	return 0;
}
