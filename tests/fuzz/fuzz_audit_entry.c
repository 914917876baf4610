/*
 * fuzz_audit_entry.c: the audit leaf decoder, which the CLI verifier and the
 * front run on bytes read from disk or from the keeper. Any input decodes
 * or is refused; what decodes re-encodes to exactly the same bytes (one
 * leaf, one meaning) and renders as JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/audit/audit.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_audit_entry *e = NULL;
	struct kw_buf again;
	json_t *j = NULL;

	if (kw_audit_entry_decode(data, size, &e) != 0)
		return 0;
	kw_buf_init(&again);
	if (kw_audit_entry_encode(e, &again) != 0 || again.len != size ||
	    memcmp(again.data, data, size) != 0)
		abort();
	if (kw_audit_entry_to_json(e, &j) != 0)
		abort();
	json_decref(j);
	kw_buf_cleanup(&again);
	kw_audit_entry_free(e);
	return 0;
}

/* Seeds: a full entry and a sparse one. */
size_t fuzz_seeds(uint8_t ***out, size_t **lens)
{
	struct kw_audit_entry full = {.index = 7,
	                              .time_us = 1795878823000000ull,
	                              .node_id = "node",
	                              .auth_method = "token",
	                              .subject = "token-app",
	                              .accessor = "abcd",
	                              .source_addr = "127.0.0.1",
	                              .listener_port = 8200,
	                              .operation = "sign",
	                              .path = "transit/sign/app-1",
	                              .key_name = "app-1",
	                              .key_version = 2,
	                              .result = 0,
	                              .has_input_sha256 = true,
	                              .has_output_sha256 = true,
	                              .request_id = "req-1"};
	struct kw_audit_entry sparse = {
	    .index = 0, .time_us = 1, .operation = "unseal", .result = KW_ERR_BAD_SHARE};
	const struct kw_audit_entry *src[] = {&full, &sparse};
	uint8_t **s = calloc(2, sizeof(*s));
	size_t *l = calloc(2, sizeof(*l));

	memset(full.input_sha256, 0xab, sizeof(full.input_sha256));
	memset(full.output_sha256, 0xcd, sizeof(full.output_sha256));
	if (s == NULL || l == NULL)
		abort();
	for (size_t i = 0; i < 2; i++) {
		struct kw_buf b;
		kw_buf_init(&b);
		if (kw_audit_entry_encode(src[i], &b) != 0)
			abort();
		s[i] = b.data;
		l[i] = b.len;
	}
	*out = s;
	*lens = l;
	return 2;
}
