/* buf.c: growable buffers that wipe on reset and free (they may carry secrets). */
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

void kw_buf_init(struct kw_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

int kw_buf_reserve(struct kw_buf *b, size_t extra)
{
	size_t want, cap;
	uint8_t *p;

	if (extra > SIZE_MAX / 2 - b->len)
		return KW_ERR_NOMEM;
	want = b->len + extra;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	/* No realloc: the old block may hold secrets and must be wiped first. */
	p = malloc(cap);
	if (p == NULL)
		return KW_ERR_NOMEM;
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		kw_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int kw_buf_append(struct kw_buf *b, const void *p, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	if ((r = kw_buf_reserve(b, n)) != 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int kw_buf_append_str(struct kw_buf *b, const char *s)
{
	return kw_buf_append(b, s, strlen(s));
}

int kw_buf_appendf(struct kw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return KW_ERR_INVALID;
	/* One more for vsnprintf's NUL, which the length then leaves out. */
	if ((r = kw_buf_reserve(b, (size_t)n + 1)) != 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int kw_buf_append_u8(struct kw_buf *b, uint8_t v)
{
	return kw_buf_append(b, &v, 1);
}

int kw_buf_append_u16(struct kw_buf *b, uint16_t v)
{
	uint8_t p[2];
	kw_store_u16(p, v);
	return kw_buf_append(b, p, sizeof(p));
}

int kw_buf_append_u32(struct kw_buf *b, uint32_t v)
{
	uint8_t p[4];
	kw_store_u32(p, v);
	return kw_buf_append(b, p, sizeof(p));
}

int kw_buf_append_u64(struct kw_buf *b, uint64_t v)
{
	uint8_t p[8];
	kw_store_u64(p, v);
	return kw_buf_append(b, p, sizeof(p));
}

void kw_buf_reset(struct kw_buf *b)
{
	if (b->data != NULL)
		kw_wipe(b->data, b->len);
	b->len = 0;
}

void kw_buf_cleanup(struct kw_buf *b)
{
	if (b->data != NULL) {
		kw_wipe(b->data, b->cap);
		free(b->data);
	}
	kw_buf_init(b);
}

uint16_t kw_load_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t kw_load_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t kw_load_u64(const uint8_t *p)
{
	return ((uint64_t)kw_load_u32(p) << 32) | kw_load_u32(p + 4);
}

void kw_store_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void kw_store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void kw_store_u64(uint8_t *p, uint64_t v)
{
	kw_store_u32(p, (uint32_t)(v >> 32));
	kw_store_u32(p + 4, (uint32_t)v);
}
