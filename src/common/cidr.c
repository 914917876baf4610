/*
 * cidr.c: address ranges for network identities. Parsing is strict (a
 * range with host bits set is refused rather than silently widened or
 * narrowed) because these ranges decide who may use a key with no
 * credential at all.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Text to 4 or 16 bytes; an IPv4-mapped IPv6 address becomes IPv4. */
static int addr_parse(const char *s, uint8_t out[16], bool *v6)
{
	uint8_t a6[16];

	if (inet_pton(AF_INET, s, out) == 1) {
		*v6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a6) != 1)
		return KW_ERR_INVALID;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
		memcpy(out, a6 + 12, 4);
		*v6 = false;
		return 0;
	}
	memcpy(out, a6, 16);
	*v6 = true;
	return 0;
}

/* Do the first prefix bits of a and b agree? */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

int kw_cidr_parse(const char *s, struct kw_cidr *out)
{
	char host[64];
	const char *slash;
	struct kw_cidr c = {0};
	unsigned long prefix;
	size_t hlen;
	char *end;

	if (s == NULL)
		return KW_ERR_INVALID;
	slash = strchr(s, '/');
	hlen = slash ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(host))
		return KW_ERR_INVALID;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (addr_parse(host, c.addr, &c.v6) != 0)
		return KW_ERR_INVALID;
	/* "::ffff:10.0.0.0/104" would mean a v4 range in v6 terms: refuse. */
	if (!c.v6 && strchr(host, ':') != NULL)
		return KW_ERR_INVALID;
	prefix = c.v6 ? 128 : 32;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return KW_ERR_INVALID;
		unsigned long p = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || p > prefix || (slash[1] == '0' && slash[2] != '\0'))
			return KW_ERR_INVALID;
		prefix = p;
	}
	c.prefix = (uint8_t)prefix;
	/* Host bits must be zero: the range must mean what it says. */
	{
		uint8_t masked[16];
		size_t n = c.v6 ? 16 : 4;

		memcpy(masked, c.addr, n);
		for (size_t bit = prefix; bit < n * 8; bit++)
			masked[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
		if (memcmp(masked, c.addr, n) != 0)
			return KW_ERR_INVALID;
	}
	*out = c;
	return 0;
}

bool kw_cidr_match(const struct kw_cidr *c, const char *addr)
{
	uint8_t a[16];
	bool v6;

	if (c == NULL || addr == NULL || addr_parse(addr, a, &v6) != 0 || v6 != c->v6)
		return false;
	return prefix_equal(a, c->addr, c->prefix);
}

bool kw_cidr_match_any(const struct kw_cidr *c, size_t n, const char *addr)
{
	for (size_t i = 0; i < n; i++)
		if (kw_cidr_match(&c[i], addr))
			return true;
	return false;
}
