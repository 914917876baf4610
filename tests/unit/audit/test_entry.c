/*
 * test_entry.c: the canonical leaf — round trips, golden bytes and JSON,
 * the strict decoder (every truncation, every single-byte change) and what
 * the encoder refuses.
 */
#include <stdlib.h>
#include <string.h>

#include "audit_tests.h"

/* The entry whose leaf and JSON are in golden/: every field distinct. */
static void golden_entry(struct kw_audit_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->index = 42;
	e->time_us = 1764338400123456ull; /* 2025-11-28T14:00:00.123456Z */
	e->node_id = "node-a";
	e->auth_method = "kubernetes";
	e->subject = "system:serviceaccount:pay:zoë";
	e->accessor = "0123456789abcdef01234567";
	e->source_addr = "10.1.2.3";
	e->listener_port = 8200;
	e->operation = "sign";
	e->path = "transit/sign/payments";
	e->key_name = "payments";
	e->key_version = 3;
	e->result = 0;
	e->has_input_sha256 = true;
	for (int i = 0; i < 32; i++)
		e->input_sha256[i] = (uint8_t)i;
	e->has_output_sha256 = true;
	for (int i = 0; i < 32; i++)
		e->output_sha256[i] = (uint8_t)(0xff - i);
	e->request_id = "req-7";
	e->claims = "{\"pod_name\":\"api-7f9c\",\"pod_uid\":\"4b1e\"}";
}

static void encode(const struct kw_audit_entry *e, struct kw_buf *b)
{
	kw_buf_init(b);
	assert_int_equal(kw_audit_entry_encode(e, b), 0);
}

static void assert_entry_equal(const struct kw_audit_entry *a, const struct kw_audit_entry *b)
{
	assert_int_equal(a->index, b->index);
	assert_int_equal(a->time_us, b->time_us);
	assert_string_equal(a->node_id, b->node_id);
	assert_string_equal(a->auth_method, b->auth_method);
	assert_string_equal(a->subject, b->subject);
	assert_string_equal(a->accessor, b->accessor);
	assert_string_equal(a->source_addr, b->source_addr);
	assert_int_equal(a->listener_port, b->listener_port);
	assert_string_equal(a->operation, b->operation);
	assert_string_equal(a->path, b->path);
	assert_string_equal(a->key_name, b->key_name);
	assert_int_equal(a->key_version, b->key_version);
	assert_int_equal(a->result, b->result);
	assert_int_equal(a->has_input_sha256, b->has_input_sha256);
	if (a->has_input_sha256)
		assert_memory_equal(a->input_sha256, b->input_sha256, 32);
	assert_int_equal(a->has_output_sha256, b->has_output_sha256);
	if (a->has_output_sha256)
		assert_memory_equal(a->output_sha256, b->output_sha256, 32);
	assert_string_equal(a->request_id, b->request_id);
	assert_string_equal(a->claims ? a->claims : "", b->claims);
}

void test_entry_roundtrip(void **state)
{
	for (uint64_t i = 0; i < 40; i++) {
		struct kw_audit_entry e, *d = NULL;
		struct kw_buf b, b2;

		t_entry(&e, i);
		encode(&e, &b);
		assert_int_equal(kw_audit_entry_decode(b.data, b.len, &d), 0);
		assert_entry_equal(&e, d);
		assert_string_equal(d->result_code, kw_err_code(e.result));
		/* Decoding then encoding gives the same bytes. */
		encode(d, &b2);
		assert_int_equal(b2.len, b.len);
		assert_memory_equal(b2.data, b.data, b.len);
		kw_audit_entry_free(d);
		kw_buf_cleanup(&b);
		kw_buf_cleanup(&b2);
	}
}

/* Compare with golden/name, or rewrite it when KW_GOLDEN_UPDATE is set. */
static void golden_compare(const char *name, const char *got)
{
	char *path = t_path(GOLDEN_DIR, name), *want;
	size_t len;

	if (getenv("KW_GOLDEN_UPDATE") != NULL)
		t_write_file(path, got, strlen(got));
	want = t_read_file(path, &len);
	assert_string_equal(got, want);
	free(want);
	free(path);
}

void test_entry_golden(void **state)
{
	struct kw_audit_entry e, *d = NULL;
	struct kw_buf b;
	char *hex = NULL, *line;
	size_t n;

	golden_entry(&e);
	encode(&e, &b);
	assert_int_equal(kw_hex_encode(b.data, b.len, &hex), 0);
	n = strlen(hex);
	line = malloc(n + 2);
	assert_non_null(line);
	memcpy(line, hex, n);
	memcpy(line + n, "\n", 2);
	golden_compare("leaf-v1.hex", line);
	assert_int_equal(kw_audit_entry_decode(b.data, b.len, &d), 0);
	assert_entry_equal(&e, d);
	kw_audit_entry_free(d);
	free(line);
	free(hex);
	kw_buf_cleanup(&b);
}

void test_entry_json_golden(void **state)
{
	struct kw_audit_entry e, *d = NULL;
	struct kw_buf b;
	char *text = NULL, *line;
	size_t n;

	golden_entry(&e);
	encode(&e, &b);
	assert_int_equal(kw_audit_entry_decode(b.data, b.len, &d), 0);
	assert_int_equal(kw_audit_entry_json_text(d, &text), 0);
	n = strlen(text);
	line = malloc(n + 2);
	assert_non_null(line);
	memcpy(line, text, n);
	memcpy(line + n, "\n", 2);
	golden_compare("entry-v1.json", line);
	free(line);
	free(text);
	/* An entry without digests renders them as null. */
	d->has_input_sha256 = false;
	assert_int_equal(kw_audit_entry_json_text(d, &text), 0);
	assert_non_null(strstr(text, "\"input_sha256\":null"));
	free(text);
	kw_audit_entry_free(d);
	kw_buf_cleanup(&b);
}

void test_entry_defaults(void **state)
{
	struct kw_audit_entry e = {.index = 1, .result = KW_ERR_DENIED}, *d = NULL;
	struct kw_buf b;

	encode(&e, &b);
	assert_int_equal(kw_audit_entry_decode(b.data, b.len, &d), 0);
	assert_string_equal(d->node_id, "");
	assert_string_equal(d->subject, "");
	assert_string_equal(d->result_code, "permission_denied");
	assert_false(d->has_input_sha256);
	assert_false(d->has_output_sha256);
	kw_audit_entry_free(d);
	kw_buf_cleanup(&b);

	e.result = 0;
	encode(&e, &b);
	assert_int_equal(kw_audit_entry_decode(b.data, b.len, &d), 0);
	assert_string_equal(d->result_code, "ok");
	kw_audit_entry_free(d);
	kw_buf_cleanup(&b);
}

/* The offset of field number id's length prefix in leaf. */
static size_t field_at(const uint8_t *leaf, int id)
{
	size_t off = 1;

	for (int i = 0; i < id; i++)
		off += 2 + kw_load_u16(leaf + off);
	return off;
}

static void assert_rejected(const uint8_t *leaf, size_t len)
{
	struct kw_audit_entry *d = NULL;

	assert_int_equal(kw_audit_entry_decode(leaf, len, &d), KW_ERR_INVALID);
	assert_null(d);
}

/* Replace field id's value with v (n bytes) and expect a rejection. */
static void assert_field_rejected(const struct kw_buf *good, int id, const void *v, size_t n)
{
	size_t at = field_at(good->data, id), old = kw_load_u16(good->data + at);
	size_t len = good->len - old + n;
	uint8_t *p = malloc(len);

	assert_non_null(p);
	memcpy(p, good->data, at);
	kw_store_u16(p + at, (uint16_t)n);
	memcpy(p + at + 2, v, n);
	memcpy(p + at + 2 + n, good->data + at + 2 + old, good->len - at - 2 - old);
	assert_rejected(p, len);
	free(p);
}

void test_entry_decode_rejects(void **state)
{
	static const uint8_t overlong[] = {0xc0, 0x80};
	static const uint8_t surrogate[] = {0xed, 0xa0, 0x80};
	static const uint8_t high[] = {0xf4, 0x90, 0x80, 0x80};
	static const uint8_t nul[] = {'a', 0, 'b'};
	static const uint8_t ff[] = {0xff};
	uint8_t big[8] = {0x80, 0, 0, 0, 0, 0, 0, 0}; /* 2^63 */
	uint8_t zeros[33] = {0};
	struct kw_audit_entry e;
	struct kw_buf b;

	golden_entry(&e);
	encode(&e, &b);
	assert_rejected(NULL, 0);
	assert_rejected(b.data, 0);
	b.data[0] = 2; /* unknown version */
	assert_rejected(b.data, b.len);
	b.data[0] = KW_AUDIT_LEAF_VERSION;
	assert_field_rejected(&b, 0, zeros, 7);   /* index: 7 bytes */
	assert_field_rejected(&b, 0, zeros, 9);   /* index: 9 bytes */
	assert_field_rejected(&b, 0, big, 8);     /* index >= 2^63 */
	assert_field_rejected(&b, 1, big, 8);     /* time >= 2^63 */
	assert_field_rejected(&b, 7, zeros, 4);   /* port: 4 bytes */
	assert_field_rejected(&b, 11, zeros, 2);  /* key version: 2 bytes */
	assert_field_rejected(&b, 12, zeros, 8);  /* result: 8 bytes */
	assert_field_rejected(&b, 14, zeros, 31); /* input digest: 31 bytes */
	assert_field_rejected(&b, 15, zeros, 33); /* output digest: 33 bytes */
	assert_field_rejected(&b, 4, overlong, sizeof(overlong));
	assert_field_rejected(&b, 4, surrogate, sizeof(surrogate));
	assert_field_rejected(&b, 4, high, sizeof(high));
	assert_field_rejected(&b, 9, nul, sizeof(nul));
	assert_field_rejected(&b, 16, ff, sizeof(ff));
	{
		uint8_t *longtext = malloc(KW_AUDIT_TEXT_MAX + 1);

		assert_non_null(longtext);
		memset(longtext, 'x', KW_AUDIT_TEXT_MAX + 1);
		assert_field_rejected(&b, 2, longtext, KW_AUDIT_TEXT_MAX + 1);
		free(longtext);
	}
	kw_buf_cleanup(&b);
}

void test_entry_decode_every_mutation(void **state)
{
	static const uint8_t flips[] = {0x01, 0x80, 0xff};
	struct kw_audit_entry e;
	struct kw_buf b;
	uint8_t *p;

	golden_entry(&e);
	encode(&e, &b);
	p = malloc(b.len + 1);
	assert_non_null(p);
	/* Every truncation and any trailing byte is rejected. */
	for (size_t n = 0; n < b.len; n++) {
		memcpy(p, b.data, n);
		assert_rejected(p, n);
	}
	memcpy(p, b.data, b.len);
	p[b.len] = 0;
	assert_rejected(p, b.len + 1);
	/* A changed byte is rejected or decodes to an entry that encodes back
	 * to exactly those bytes: no entry has two encodings. */
	for (size_t i = 0; i < b.len; i++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			struct kw_audit_entry *d = NULL;

			memcpy(p, b.data, b.len);
			p[i] ^= flips[f];
			if (kw_audit_entry_decode(p, b.len, &d) == 0) {
				struct kw_buf b2;

				encode(d, &b2);
				assert_int_equal(b2.len, b.len);
				assert_memory_equal(b2.data, p, b.len);
				kw_buf_cleanup(&b2);
				kw_audit_entry_free(d);
			}
		}
	}
	free(p);
	kw_buf_cleanup(&b);
}

void test_entry_encode_rejects(void **state)
{
	struct kw_audit_entry e;
	struct kw_buf b;
	char *longtext = malloc(KW_AUDIT_TEXT_MAX + 2);

	assert_non_null(longtext);
	kw_buf_init(&b);
	assert_int_equal(kw_buf_append_str(&b, "keep"), 0);
	golden_entry(&e);
	e.subject = "bad \xc3\x28 utf8";
	assert_int_equal(kw_audit_entry_encode(&e, &b), KW_ERR_INVALID);
	golden_entry(&e);
	memset(longtext, 'x', KW_AUDIT_TEXT_MAX + 1);
	longtext[KW_AUDIT_TEXT_MAX + 1] = '\0';
	e.path = longtext;
	assert_int_equal(kw_audit_entry_encode(&e, &b), KW_ERR_INVALID);
	longtext[KW_AUDIT_TEXT_MAX] = '\0'; /* exactly the maximum is fine */
	assert_int_equal(kw_audit_entry_encode(&e, &b), 0);
	kw_buf_reset(&b);
	assert_int_equal(kw_buf_append_str(&b, "keep"), 0);
	golden_entry(&e);
	e.index = (uint64_t)1 << 63;
	assert_int_equal(kw_audit_entry_encode(&e, &b), KW_ERR_INVALID);
	/* Failures leave the buffer as it was. */
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	free(longtext);
	kw_buf_cleanup(&b);
}
