/*
 * msg.c: building, encoding and decoding IPC messages. The decoder is the
 * keeper's first line against a compromised front: every length is checked
 * against what is really there, every tag against the tag table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"

struct tag_info {
	uint16_t tag;
	enum kw_ipc_kind kind;
	const char *name;
};

static const struct tag_info tag_table[] = {
#define KW_TAG_ROW(name, id, kind) {id, KW_IPC_##kind, #name},
    KW_IPC_TAG_LIST(KW_TAG_ROW)
#undef KW_TAG_ROW
};

struct msg_info {
	uint16_t type;
	const char *name;
};

static const struct msg_info msg_table[] = {
#define KW_MSG_ROW(name, id, str) {id, str},
    KW_MSG_LIST(KW_MSG_ROW)
#undef KW_MSG_ROW
};

static const struct tag_info *tag_find(uint16_t tag)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(tag_table); i++)
		if (tag_table[i].tag == tag)
			return &tag_table[i];
	return NULL;
}

const char *kw_ipc_tag_name(uint16_t tag)
{
	const struct tag_info *t = tag_find(tag);
	return t ? t->name : NULL;
}

const char *kw_msg_name(uint16_t type)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(msg_table); i++)
		if (msg_table[i].type == type)
			return msg_table[i].name;
	return NULL;
}

static void msg_start(struct kw_ipc_msg *m, uint16_t type, uint16_t flags, int32_t status)
{
	uint8_t hdr[KW_IPC_HEADER_BYTES] = {0};

	m->type = type;
	m->flags = flags;
	m->status = status;
	m->nfields = 0;
	kw_buf_init(&m->buf);
	kw_store_u16(hdr + 4, type);
	kw_store_u16(hdr + 6, flags);
	kw_store_u32(hdr + 8, (uint32_t)status);
	/* The header is rewritten with the body length on send; a failed
	 * append here leaves an empty buffer that send refuses. */
	if (kw_buf_append(&m->buf, hdr, sizeof(hdr)) != 0)
		kw_buf_cleanup(&m->buf);
}

void kw_ipc_msg_init(struct kw_ipc_msg *m, uint16_t type)
{
	msg_start(m, type, 0, 0);
}

void kw_ipc_reply_init(struct kw_ipc_msg *reply, const struct kw_ipc_msg *req, int status)
{
	msg_start(reply, req->type, KW_IPC_F_REPLY, status);
}

void kw_ipc_msg_cleanup(struct kw_ipc_msg *m)
{
	kw_buf_cleanup(&m->buf);
	m->nfields = 0;
}

/* Re-point field values after the buffer may have moved. */
static void fields_reindex(struct kw_ipc_msg *m)
{
	size_t off = KW_IPC_HEADER_BYTES;

	for (size_t i = 0; i < m->nfields; i++) {
		m->fields[i].val = m->buf.data + off + 6;
		off += 6 + m->fields[i].len;
	}
}

int kw_ipc_put(struct kw_ipc_msg *m, uint16_t tag, const void *val, size_t len)
{
	const struct tag_info *t = tag_find(tag);
	uint8_t fh[6];
	int r;

	if (t == NULL || m->buf.data == NULL)
		return KW_ERR_INTERNAL;
	if (m->nfields >= KW_IPC_FIELDS_MAX)
		return KW_ERR_LIMIT;
	if (len > KW_IPC_FRAME_MAX || m->buf.len - KW_IPC_HEADER_BYTES + 6 + len > KW_IPC_FRAME_MAX)
		return KW_ERR_LIMIT;
	kw_store_u16(fh, tag);
	kw_store_u32(fh + 2, (uint32_t)len);
	if ((r = kw_buf_reserve(&m->buf, sizeof(fh) + len)) != 0)
		return r;
	/* Reserve first so both appends succeed: no half-written field. */
	if (kw_buf_append(&m->buf, fh, sizeof(fh)) != 0 || kw_buf_append(&m->buf, val, len) != 0)
		return KW_ERR_NOMEM;
	m->fields[m->nfields].tag = tag;
	m->fields[m->nfields].len = (uint32_t)len;
	m->nfields++;
	fields_reindex(m);
	return 0;
}

int kw_ipc_put_str(struct kw_ipc_msg *m, uint16_t tag, const char *s)
{
	const struct tag_info *t = tag_find(tag);

	if (t == NULL || t->kind != KW_IPC_STR)
		return KW_ERR_INTERNAL;
	return kw_ipc_put(m, tag, s, strlen(s) + 1);
}

int kw_ipc_put_u32(struct kw_ipc_msg *m, uint16_t tag, uint32_t v)
{
	uint8_t p[4];
	const struct tag_info *t = tag_find(tag);

	if (t == NULL || t->kind != KW_IPC_U32)
		return KW_ERR_INTERNAL;
	kw_store_u32(p, v);
	return kw_ipc_put(m, tag, p, sizeof(p));
}

int kw_ipc_put_u64(struct kw_ipc_msg *m, uint16_t tag, uint64_t v)
{
	uint8_t p[8];
	const struct tag_info *t = tag_find(tag);

	if (t == NULL || t->kind != KW_IPC_U64)
		return KW_ERR_INTERNAL;
	kw_store_u64(p, v);
	return kw_ipc_put(m, tag, p, sizeof(p));
}

int kw_ipc_set_error(struct kw_ipc_msg *m, int status, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	m->status = status;
	if (m->buf.data != NULL)
		kw_store_u32(m->buf.data + 8, (uint32_t)status);
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return kw_ipc_put_str(m, KW_T_ERROR_DETAIL, detail);
}

static bool field_valid(const struct tag_info *t, const uint8_t *val, uint32_t len)
{
	switch (t->kind) {
	case KW_IPC_U32:
		return len == 4;
	case KW_IPC_U64:
		return len == 8;
	case KW_IPC_STR:
		/* Exactly one NUL, at the end: C string getters are then safe. */
		return len >= 1 && val[len - 1] == '\0' && memchr(val, '\0', len) == val + len - 1;
	case KW_IPC_BYTES:
		return true;
	}
	return false;
}

static int header_check(const uint8_t *hdr, uint32_t *body_len)
{
	uint16_t flags = kw_load_u16(hdr + 6);

	*body_len = kw_load_u32(hdr);
	if (*body_len > KW_IPC_FRAME_MAX)
		return KW_ERR_IPC;
	if ((flags & ~KW_IPC_F_REPLY) != 0)
		return KW_ERR_IPC;
	if (kw_msg_name(kw_load_u16(hdr + 4)) == NULL)
		return KW_ERR_IPC;
	return 0;
}

/* Index the fields of m->buf, which holds a whole frame. */
static int fields_parse(struct kw_ipc_msg *m)
{
	size_t off = KW_IPC_HEADER_BYTES;

	m->nfields = 0;
	while (off < m->buf.len) {
		const struct tag_info *t;
		uint32_t len;

		if (m->buf.len - off < 6 || m->nfields >= KW_IPC_FIELDS_MAX)
			return KW_ERR_IPC;
		t = tag_find(kw_load_u16(m->buf.data + off));
		len = kw_load_u32(m->buf.data + off + 2);
		off += 6;
		if (t == NULL || len > m->buf.len - off || !field_valid(t, m->buf.data + off, len))
			return KW_ERR_IPC;
		m->fields[m->nfields].tag = t->tag;
		m->fields[m->nfields].len = len;
		m->fields[m->nfields].val = m->buf.data + off;
		m->nfields++;
		off += len;
	}
	return 0;
}

int kw_ipc_decode(struct kw_ipc_msg *m, const uint8_t *frame, size_t len)
{
	uint32_t body_len;
	int r;

	kw_buf_init(&m->buf);
	m->nfields = 0;
	if (len < KW_IPC_HEADER_BYTES || header_check(frame, &body_len) != 0)
		return KW_ERR_IPC;
	if (body_len != len - KW_IPC_HEADER_BYTES)
		return KW_ERR_IPC;
	if ((r = kw_buf_append(&m->buf, frame, len)) != 0)
		return r;
	m->type = kw_load_u16(frame + 4);
	m->flags = kw_load_u16(frame + 6);
	m->status = (int32_t)kw_load_u32(frame + 8);
	if ((r = fields_parse(m)) != 0) {
		kw_ipc_msg_cleanup(m);
		return r;
	}
	return 0;
}

const struct kw_ipc_field *kw_ipc_next(const struct kw_ipc_msg *m, uint16_t tag, size_t *pos)
{
	for (; *pos < m->nfields; (*pos)++) {
		if (m->fields[*pos].tag == tag)
			return &m->fields[(*pos)++];
	}
	return NULL;
}

const struct kw_ipc_field *kw_ipc_find(const struct kw_ipc_msg *m, uint16_t tag)
{
	size_t pos = 0;
	return kw_ipc_next(m, tag, &pos);
}

static int get_kind(const struct kw_ipc_msg *m, uint16_t tag, enum kw_ipc_kind kind,
                    const struct kw_ipc_field **f)
{
	const struct tag_info *t = tag_find(tag);

	if (t == NULL || t->kind != kind)
		return KW_ERR_INTERNAL;
	*f = kw_ipc_find(m, tag);
	return *f ? 0 : KW_ERR_NOT_FOUND;
}

int kw_ipc_get_str(const struct kw_ipc_msg *m, uint16_t tag, const char **s)
{
	const struct kw_ipc_field *f;
	int r = get_kind(m, tag, KW_IPC_STR, &f);

	if (r == 0)
		*s = (const char *)f->val;
	return r;
}

int kw_ipc_get_bytes(const struct kw_ipc_msg *m, uint16_t tag, const uint8_t **p, size_t *len)
{
	const struct kw_ipc_field *f;
	int r = get_kind(m, tag, KW_IPC_BYTES, &f);

	if (r == 0) {
		*p = f->val;
		*len = f->len;
	}
	return r;
}

int kw_ipc_get_u32(const struct kw_ipc_msg *m, uint16_t tag, uint32_t *v)
{
	const struct kw_ipc_field *f;
	int r = get_kind(m, tag, KW_IPC_U32, &f);

	if (r == 0)
		*v = kw_load_u32(f->val);
	return r;
}

int kw_ipc_get_u64(const struct kw_ipc_msg *m, uint16_t tag, uint64_t *v)
{
	const struct kw_ipc_field *f;
	int r = get_kind(m, tag, KW_IPC_U64, &f);

	if (r == 0)
		*v = kw_load_u64(f->val);
	return r;
}

uint32_t kw_ipc_u32_or(const struct kw_ipc_msg *m, uint16_t tag, uint32_t def)
{
	uint32_t v;
	return kw_ipc_get_u32(m, tag, &v) == 0 ? v : def;
}

uint64_t kw_ipc_u64_or(const struct kw_ipc_msg *m, uint16_t tag, uint64_t def)
{
	uint64_t v;
	return kw_ipc_get_u64(m, tag, &v) == 0 ? v : def;
}

const char *kw_ipc_str_or(const struct kw_ipc_msg *m, uint16_t tag, const char *def)
{
	const char *s;
	return kw_ipc_get_str(m, tag, &s) == 0 ? s : def;
}
