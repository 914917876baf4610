/* front_test.h: what the front's two test files share. */
#ifndef KW_FRONT_TEST_H
#define KW_FRONT_TEST_H

#include "../../../src/front/front_int.h"

/* JSON getters that fail the test when the key is missing or mistyped. */
const json_t *jget(const json_t *j, const char *key);
const char *jstr(const json_t *j, const char *key);
long long jint(const json_t *j, const char *key);
bool jbool(const json_t *j, const char *key);
const json_t *jdata(const struct kw_resp *out);
const char *err_code(const struct kw_resp *out);
const char *err_text(const struct kw_resp *out);

/* Channels for run_req: the fake keeper's pool while it runs, else NULL. */
extern struct kw_chanpool *test_pool;
/* Dispatch one request as from 192.0.2.7 on listener port 8200. */
unsigned run_req(unsigned method, const char *path, const char *body, const char *token,
                 struct kw_resp *out);

/* The handler tests of test_keeper.c, as their own group. */
int front_keeper_tests(void);

#endif
