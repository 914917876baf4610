/* tests.h: the client test program's groups, one per source file. */
#ifndef KW_TEST_CLIENT_H
#define KW_TEST_CLIENT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* A test named by its path, as STYLE.md asks. */
#define TEST(path, fn)                                                                             \
	{                                                                                          \
		path, fn, NULL, NULL, NULL                                                         \
	}

int test_client_run(void);
int test_cli_run(void);
int test_http_run(void);
int test_cli_run_run(void);

#endif
