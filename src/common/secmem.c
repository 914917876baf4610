/*
 * secmem.c: secret memory and process hardening.
 *
 * The keeper calls kw_secure_heap_init() before it touches a key, so every
 * kw_secure_alloc() (and every OpenSSL BIGNUM flagged secret, e.g. private
 * EC/RSA scalars) lands in the mlocked, MADV_DONTDUMP secure heap.
 */
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "common.h"

int kw_secure_heap_init(size_t bytes)
{
	/* minsize 32: small allocations (AES keys) don't waste a page each. */
	if (CRYPTO_secure_malloc_initialized())
		return 0;
	switch (CRYPTO_secure_malloc_init(bytes, 32)) {
	case 0:
		return KW_ERR_NOMEM;
	case 2:
		/* Usable, but pages may be swapped or dumped: say so. */
		kw_warn("secure heap: could not lock or protect its memory; raise RLIMIT_MEMLOCK");
		return 0;
	default:
		return 0;
	}
}

bool kw_secure_heap_active(void)
{
	return CRYPTO_secure_malloc_initialized() != 0;
}

void *kw_secure_alloc(size_t n)
{
	return OPENSSL_secure_zalloc(n ? n : 1);
}

void kw_secure_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_secure_clear_free(p, n ? n : 1);
}

void kw_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

bool kw_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int kw_process_harden(void)
{
	struct rlimit rl = {0, 0};

	/* No core file can hold a key, and same-uid processes cannot ptrace us. */
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return KW_ERR_INTERNAL;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return KW_ERR_INTERNAL;
	return 0;
}
