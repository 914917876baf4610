/*
 * base64.c: RFC 4648 base64 (standard and URL-safe) and hex.
 *
 * Our own small codec rather than OpenSSL's EVP_Decode*, which skips
 * whitespace and accepts unpadded input: a strict decoder means one accepted
 * spelling per value, so "bad base64" is a clear error and never a guess.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(const char *alpha, bool pad, const uint8_t *in, size_t len, char **out)
{
	size_t n = (len + 2) / 3 * 4, o = 0;
	char *s;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return KW_ERR_NOMEM;
	s = malloc(n + 1);
	if (s == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t rem = len - i;

		if (rem > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (rem > 2)
			v |= in[i + 2];
		s[o++] = alpha[(v >> 18) & 63];
		s[o++] = alpha[(v >> 12) & 63];
		if (rem > 1)
			s[o++] = alpha[(v >> 6) & 63];
		else if (pad)
			s[o++] = '=';
		if (rem > 2)
			s[o++] = alpha[v & 63];
		else if (pad)
			s[o++] = '=';
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

int kw_base64_encode(const uint8_t *in, size_t len, char **out)
{
	return b64_encode(b64_std, true, in, len, out);
}

int kw_base64url_encode(const uint8_t *in, size_t len, char **out)
{
	return b64_encode(b64_url, false, in, len, out);
}

static int b64_value(bool url, char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

size_t kw_base64_decoded_max(size_t len)
{
	return (len + 3) / 4 * 3;
}

/*
 * Decode; with pad_required the length must be a multiple of four. Unused
 * low bits of the last symbol must be zero (RFC 4648 section 3.5), so that
 * each byte string has exactly one encoding.
 */
static int b64_decode(bool url, bool pad_required, const char *in, size_t len, uint8_t **out,
                      size_t *outlen)
{
	size_t pad = 0, body, o = 0;
	uint8_t *d;
	uint32_t acc = 0;
	int bits = 0;

	if (pad_required && len % 4 != 0)
		return KW_ERR_BASE64;
	while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
		pad++;
	body = len - pad;
	if (pad > 0 && len % 4 != 0)
		return KW_ERR_BASE64;
	if (body % 4 == 1)
		return KW_ERR_BASE64;
	d = malloc(kw_base64_decoded_max(len) + 1);
	if (d == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < body; i++) {
		int v = b64_value(url, in[i]);

		if (v < 0)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		goto bad;
	*out = d;
	*outlen = o;
	return 0;
bad:
	kw_wipe(d, kw_base64_decoded_max(len));
	free(d);
	return KW_ERR_BASE64;
}

int kw_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	return b64_decode(false, true, in, len, out, outlen);
}

int kw_base64url_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	return b64_decode(true, false, in, len, out, outlen);
}

int kw_hex_encode(const uint8_t *in, size_t len, char **out)
{
	static const char digits[] = "0123456789abcdef";
	char *s;

	if (len > (SIZE_MAX - 1) / 2)
		return KW_ERR_NOMEM;
	s = malloc(len * 2 + 1);
	if (s == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[in[i] >> 4];
		s[2 * i + 1] = digits[in[i] & 15];
	}
	s[len * 2] = '\0';
	*out = s;
	return 0;
}

int kw_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int kw_hex_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *d;

	if (len % 2 != 0)
		return KW_ERR_INVALID;
	d = malloc(len / 2 + 1);
	if (d == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < len; i += 2) {
		int hi = kw_hex_value(in[i]), lo = kw_hex_value(in[i + 1]);

		if (hi < 0 || lo < 0) {
			kw_wipe(d, len / 2 + 1);
			free(d);
			return KW_ERR_INVALID;
		}
		d[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*out = d;
	*outlen = len / 2;
	return 0;
}
