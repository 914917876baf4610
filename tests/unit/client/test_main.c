/*
 * test_main.c: runs every group of the client tests; fails if any fails.
 * One test alone: test_client '/client/http/retry-get-once' (a cmocka filter
 * pattern, '*' allowed).
 */
#include "tests.h"

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	failed += test_client_run();
	failed += test_cli_run();
	failed += test_http_run();
	failed += test_cli_run_run();
	return failed ? 1 : 0;
}
