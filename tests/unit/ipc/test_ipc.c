/* Unit tests for src/ipc: round trips, and every kind of malformed frame
 * the keeper must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../src/ipc/ipc.h"

static void build_sample(struct kw_ipc_msg *m)
{
	kw_ipc_msg_init(m, KW_MSG_SIGN);
	assert_int_equal(kw_ipc_put_str(m, KW_T_NAME, "app-1"), 0);
	assert_int_equal(kw_ipc_put(m, KW_T_INPUT, "\x00\x01\x02", 3), 0);
	assert_int_equal(kw_ipc_put_u32(m, KW_T_VERSION, 7), 0);
	assert_int_equal(kw_ipc_put_u64(m, KW_T_TTL, 1ull << 40), 0);
	assert_int_equal(kw_ipc_put_str(m, KW_T_POLICY, "a"), 0);
	assert_int_equal(kw_ipc_put_str(m, KW_T_POLICY, "b"), 0);
}

static void roundtrip_over_socketpair(void **state)
{
	struct kw_ipc_msg m, got;
	int sv[2];
	const char *s;
	const uint8_t *p;
	size_t len, pos = 0;
	uint32_t v;
	uint64_t big;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	build_sample(&m);
	assert_int_equal(kw_ipc_send(sv[0], &m), 0);
	assert_int_equal(kw_ipc_recv(sv[1], &got), 0);
	assert_int_equal(got.type, KW_MSG_SIGN);
	assert_int_equal(kw_ipc_get_str(&got, KW_T_NAME, &s), 0);
	assert_string_equal(s, "app-1");
	assert_int_equal(kw_ipc_get_bytes(&got, KW_T_INPUT, &p, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "\x00\x01\x02", 3);
	assert_int_equal(kw_ipc_get_u32(&got, KW_T_VERSION, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(kw_ipc_get_u64(&got, KW_T_TTL, &big), 0);
	assert_true(big == 1ull << 40);
	assert_string_equal((const char *)kw_ipc_next(&got, KW_T_POLICY, &pos)->val, "a");
	assert_string_equal((const char *)kw_ipc_next(&got, KW_T_POLICY, &pos)->val, "b");
	assert_null(kw_ipc_next(&got, KW_T_POLICY, &pos));
	assert_int_equal(kw_ipc_get_str(&got, KW_T_TOKEN, &s), KW_ERR_NOT_FOUND);
	/* Wrong kind is an error, not a reinterpretation. */
	assert_int_equal(kw_ipc_get_u32(&got, KW_T_NAME, &v), KW_ERR_INTERNAL);
	kw_ipc_msg_cleanup(&m);
	kw_ipc_msg_cleanup(&got);
	close(sv[0]);
	assert_int_equal(kw_ipc_recv(sv[1], &got), KW_ERR_IO);
	close(sv[1]);
}

static void reply_carries_status_and_detail(void **state)
{
	struct kw_ipc_msg req, rep, got;

	kw_ipc_msg_init(&req, KW_MSG_DECRYPT);
	kw_ipc_reply_init(&rep, &req, 0);
	assert_int_equal(kw_ipc_set_error(&rep, KW_ERR_DECRYPT, "key '%s'", "k"), 0);
	kw_store_u32(rep.buf.data, (uint32_t)(rep.buf.len - KW_IPC_HEADER_BYTES));
	assert_int_equal(kw_ipc_decode(&got, rep.buf.data, rep.buf.len), 0);
	assert_int_equal(got.status, KW_ERR_DECRYPT);
	assert_true(got.flags & KW_IPC_F_REPLY);
	assert_string_equal(kw_ipc_str_or(&got, KW_T_ERROR_DETAIL, ""), "key 'k'");
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&rep);
	kw_ipc_msg_cleanup(&got);
}

/* Encode the sample, then let mutate() damage it; decode must refuse. */
static void expect_rejected(void (*mutate)(struct kw_buf *))
{
	struct kw_ipc_msg m, got;

	build_sample(&m);
	kw_store_u32(m.buf.data, (uint32_t)(m.buf.len - KW_IPC_HEADER_BYTES));
	mutate(&m.buf);
	assert_int_equal(kw_ipc_decode(&got, m.buf.data, m.buf.len), KW_ERR_IPC);
	assert_null(got.buf.data);
	kw_ipc_msg_cleanup(&m);
}

static void m_unknown_type(struct kw_buf *b)
{
	kw_store_u16(b->data + 4, 999);
}
static void m_unknown_flag(struct kw_buf *b)
{
	kw_store_u16(b->data + 6, 0x8000);
}
static void m_body_len_short(struct kw_buf *b)
{
	kw_store_u32(b->data, kw_load_u32(b->data) - 1);
}
static void m_body_len_huge(struct kw_buf *b)
{
	kw_store_u32(b->data, KW_IPC_FRAME_MAX + 1);
}
static void m_truncated(struct kw_buf *b)
{
	b->len -= 1;
	kw_store_u32(b->data, (uint32_t)(b->len - KW_IPC_HEADER_BYTES));
}
static void m_unknown_tag(struct kw_buf *b)
{
	kw_store_u16(b->data + KW_IPC_HEADER_BYTES, 9999);
}
static void m_field_len_overflow(struct kw_buf *b)
{
	kw_store_u32(b->data + KW_IPC_HEADER_BYTES + 2, 0xffffffffu);
}
/* NAME "app-1\0": make the NUL a letter, so the string is unterminated. */
static void m_str_no_nul(struct kw_buf *b)
{
	b->data[KW_IPC_HEADER_BYTES + 6 + 5] = 'x';
}
static void m_str_inner_nul(struct kw_buf *b)
{
	b->data[KW_IPC_HEADER_BYTES + 6 + 2] = '\0';
}
/* VERSION is the third field: NAME (6+6) INPUT (6+3) then VERSION. */
static void m_u32_wrong_len(struct kw_buf *b)
{
	size_t off = KW_IPC_HEADER_BYTES + 12 + 9;
	assert_int_equal(kw_load_u16(b->data + off), KW_T_VERSION);
	kw_store_u32(b->data + off + 2, 3);
	b->len -= 1;
	memmove(b->data + off + 6 + 3, b->data + off + 6 + 4, b->len - (off + 6 + 3));
	kw_store_u32(b->data, (uint32_t)(b->len - KW_IPC_HEADER_BYTES));
}

static void malformed_frames_rejected(void **state)
{
	expect_rejected(m_unknown_type);
	expect_rejected(m_unknown_flag);
	expect_rejected(m_body_len_short);
	expect_rejected(m_body_len_huge);
	expect_rejected(m_truncated);
	expect_rejected(m_unknown_tag);
	expect_rejected(m_field_len_overflow);
	expect_rejected(m_str_no_nul);
	expect_rejected(m_str_inner_nul);
	expect_rejected(m_u32_wrong_len);
}

static void oversize_put_refused(void **state)
{
	struct kw_ipc_msg m;
	uint8_t *big = calloc(1, KW_IPC_FRAME_MAX);

	assert_non_null(big);
	kw_ipc_msg_init(&m, KW_MSG_ENCRYPT);
	assert_int_equal(kw_ipc_put(&m, KW_T_PLAINTEXT, big, KW_IPC_FRAME_MAX), KW_ERR_LIMIT);
	assert_int_equal(m.nfields, 0);
	assert_int_equal(kw_ipc_put(&m, KW_T_PLAINTEXT, big, 1024), 0);
	/* Put of a string into a non-string tag is a programming error. */
	assert_int_equal(kw_ipc_put_str(&m, KW_T_VERSION, "x"), KW_ERR_INTERNAL);
	kw_ipc_msg_cleanup(&m);
	free(big);
}

static void tables_are_named(void **state)
{
	assert_string_equal(kw_msg_name(KW_MSG_SIGN), "sign");
	assert_null(kw_msg_name(0));
	assert_string_equal(kw_ipc_tag_name(KW_T_NAME), "NAME");
	assert_null(kw_ipc_tag_name(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(roundtrip_over_socketpair),
	    cmocka_unit_test(reply_carries_status_and_detail),
	    cmocka_unit_test(malformed_frames_rejected),
	    cmocka_unit_test(oversize_put_refused),
	    cmocka_unit_test(tables_are_named),
	};
	return cmocka_run_group_tests_name("/ipc", tests, NULL, NULL);
}
