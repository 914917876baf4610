/*
 * fuzz_ipc.c: the keeper's view of a frame from the front. Any input must
 * decode or be refused, never crash, and a frame that decodes must survive
 * a re-encode unchanged (the decoder accepted only what the encoder makes).
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/ipc/ipc.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_ipc_msg *m = malloc(sizeof(*m)), *again = malloc(sizeof(*again));

	if (m == NULL || again == NULL)
		abort();
	if (kw_ipc_decode(m, data, size) == 0) {
		kw_ipc_msg_init(again, m->type);
		for (size_t i = 0; i < m->nfields; i++)
			if (kw_ipc_put(again, m->fields[i].tag, m->fields[i].val,
			               m->fields[i].len) != 0)
				abort();
		kw_store_u32(again->buf.data, (uint32_t)(again->buf.len - KW_IPC_HEADER_BYTES));
		kw_store_u16(again->buf.data + 6, m->flags);
		kw_store_u32(again->buf.data + 8, (uint32_t)m->status);
		if (again->buf.len != size || memcmp(again->buf.data, data, size) != 0)
			abort();
		kw_ipc_msg_cleanup(again);
		kw_ipc_msg_cleanup(m);
	}
	free(m);
	free(again);
	return 0;
}

/* One seed per message type, each with a field of every kind. */
size_t fuzz_seeds(uint8_t ***out, size_t **lens)
{
	static const uint16_t types[] = {
#define SEED_TYPE(name, id, str) id,
	    KW_MSG_LIST(SEED_TYPE)
#undef SEED_TYPE
	};
	size_t n = KW_ARRAY_LEN(types);
	uint8_t **s = calloc(n, sizeof(*s));
	size_t *l = calloc(n, sizeof(*l));

	if (s == NULL || l == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct kw_ipc_msg *m = malloc(sizeof(*m));
		if (m == NULL)
			abort();
		kw_ipc_msg_init(m, types[i]);
		if (kw_ipc_put_str(m, KW_T_REQ_ID, "seed") != 0 ||
		    kw_ipc_put_str(m, KW_T_NAME, "key-1") != 0 ||
		    kw_ipc_put_u32(m, KW_T_VERSION, 2) != 0 ||
		    kw_ipc_put_u64(m, KW_T_TTL, 3600) != 0 ||
		    kw_ipc_put(m, KW_T_INPUT, "\x01\x02\x03\x04", 4) != 0)
			abort();
		kw_store_u32(m->buf.data, (uint32_t)(m->buf.len - KW_IPC_HEADER_BYTES));
		s[i] = malloc(m->buf.len);
		if (s[i] == NULL)
			abort();
		memcpy(s[i], m->buf.data, m->buf.len);
		l[i] = m->buf.len;
		kw_ipc_msg_cleanup(m);
		free(m);
	}
	*out = s;
	*lens = l;
	return n;
}
