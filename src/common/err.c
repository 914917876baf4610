/* err.c: the one table of keyward error codes and their sentences. */
#include <string.h>

#include "common.h"

struct err_entry {
	int err;
	const char *code;
	const char *msg;
};

/* One row per line; clang-format would fold the X-macro into the brace. */
/* clang-format off */
static const struct err_entry err_table[] = {
	{KW_OK, "ok", "success"},
#define KW_ERR_ROW(name, val, code, msg) {KW_ERR_##name, code, msg},
	KW_ERR_LIST(KW_ERR_ROW)
#undef KW_ERR_ROW
};
/* clang-format on */

static const struct err_entry *err_find(int err)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(err_table); i++)
		if (err_table[i].err == err)
			return &err_table[i];
	return NULL;
}

const char *kw_err_code(int err)
{
	const struct err_entry *e = err_find(err);
	return e ? e->code : "unknown";
}

const char *kw_err_str(int err)
{
	const struct err_entry *e = err_find(err);
	return e ? e->msg : "unknown error";
}

int kw_err_from_code(const char *code)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(err_table); i++)
		if (strcmp(err_table[i].code, code) == 0)
			return err_table[i].err;
	return KW_ERR_INTERNAL;
}
