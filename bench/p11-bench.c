/*
 * p11-bench: C_Sign and C_Encrypt throughput of any PKCS#11 modules, side by
 * side.
 *
 *   p11-bench [-d seconds] [-t 1,8,32] [-o ec,rsa,aes] NAME=MODULE:PIN...
 *
 * Each module is loaded with dlopen and initialised with CKF_OS_LOCKING_OK;
 * its first slot with a token is used. It must hold key pairs labelled
 * "bench-ec" (P-256) and "bench-rsa" (RSA-2048) and an AES-256 secret key
 * labelled "bench-aes". The cases (-o picks some):
 *
 *   ec   C_Sign, CKM_ECDSA on a 32-byte digest (SoftHSM2 2.6 lacks
 *        CKM_ECDSA_SHA256)
 *   rsa  C_Sign, CKM_SHA256_RSA_PKCS on 32 bytes
 *   aes  C_Encrypt, CKM_AES_GCM on 1 KiB, a fresh 12-byte IV per call (a
 *        random 8-byte prefix per thread and a 4-byte counter, so no IV
 *        repeats under the key across threads, cases or runs), no AAD,
 *        128-bit tag
 *
 * For each case and thread count, every thread opens its own session and
 * repeats init + the single-part call for the duration. Prints operations
 * per second, then each module's ratio to every other module's, all from the
 * same run. A module that fails a case shows "failed" there (the first
 * error is printed), the others go on, and the exit status is 1; one that
 * answers CKR_MECHANISM_INVALID shows "n/a" (p11-kit 0.24's RPC cannot carry
 * CK_GCM_PARAMS) without failing the run. No timing is asserted; this only
 * measures.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#define MODULES_MAX 8
#define THREADS_MAX 8
#define TESTS       3
#define AES_IN      1024
#define GCM_IV      12
#define GCM_TAG     16

#define RATE_FAILED      -1.0
#define RATE_UNSUPPORTED -2.0

struct module {
	const char *name;
	const char *path;
	const char *pin;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	double rate[TESTS][THREADS_MAX]; /* RATE_FAILED, RATE_UNSUPPORTED or ops/s */
};

struct job {
	struct module *m;
	int test;
	double seconds;
	atomic_long ops;
	atomic_int failed;
	atomic_int unsupported; /* the module does not offer the mechanism */
};

static const struct {
	const char *opt;
	CK_MECHANISM_TYPE mech;
	CK_OBJECT_CLASS cls;
	const char *label;
	const char *name;
} tests[TESTS] = {
    {"ec", CKM_ECDSA, CKO_PRIVATE_KEY, "bench-ec",
     "ECDSA P-256 (C_Sign, CKM_ECDSA on a SHA-256 digest), signatures/s"},
    {"rsa", CKM_SHA256_RSA_PKCS, CKO_PRIVATE_KEY, "bench-rsa",
     "RSA-2048 (C_Sign, CKM_SHA256_RSA_PKCS), signatures/s"},
    {"aes", CKM_AES_GCM, CKO_SECRET_KEY, "bench-aes",
     "AES-256-GCM 1 KiB (C_Encrypt, CKM_AES_GCM, fresh 12-byte IV), encryptions/s"},
};

/* One thread's input and output buffers and its IV sequence. */
struct work {
	CK_BYTE in[AES_IN];
	CK_BYTE out[AES_IN + GCM_TAG + 1024];
	CK_BYTE iv[GCM_IV];
	uint32_t counter;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int module_load(struct module *m)
{
	CK_C_GetFunctionList get;
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	void *h = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
	CK_RV rv;

	if (h == NULL) {
		fprintf(stderr, "%s: %s\n", m->name, dlerror());
		return -1;
	}
	get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (get == NULL || get(&m->f) != CKR_OK) {
		fprintf(stderr, "%s: no C_GetFunctionList\n", m->name);
		return -1;
	}
	if ((rv = m->f->C_Initialize(&args)) != CKR_OK ||
	    (rv = m->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK || n == 0) {
		fprintf(stderr, "%s: initialise/slots failed (rv 0x%lx)\n", m->name, rv);
		return -1;
	}
	m->slot = slots[0];
	return 0;
}

static CK_RV session_open(struct module *m, int test, CK_SESSION_HANDLE *s, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS cls = tests[test].cls;
	const char *label = tests[test].label;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
	                    {CKA_LABEL, (void *)label, strlen(label)}};
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = m->f->C_OpenSession(m->slot, CKF_SERIAL_SESSION, NULL, NULL, s)) != CKR_OK)
		return rv;
	rv = m->f->C_Login(*s, CKU_USER, (CK_UTF8CHAR_PTR)m->pin, strlen(m->pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return rv;
	if ((rv = m->f->C_FindObjectsInit(*s, t, 2)) != CKR_OK)
		return rv;
	rv = m->f->C_FindObjects(*s, key, 1, &n);
	m->f->C_FindObjectsFinal(*s);
	return rv != CKR_OK ? rv : n == 1 ? CKR_OK : CKR_KEY_HANDLE_INVALID;
}

/* A fresh IV: the thread's random prefix, then its counter (SP 800-38D
 * 8.2.1's deterministic construction). */
static void iv_next(struct work *w)
{
	uint32_t c = w->counter++;

	for (int i = 0; i < 4; i++)
		w->iv[GCM_IV - 1 - i] = (CK_BYTE)(c >> (8 * i));
}

/* One operation: init, then the single-part call. */
static CK_RV op_once(struct module *m, int test, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                     struct work *w)
{
	CK_GCM_PARAMS gcm = {.pIv = w->iv,
	                     .ulIvLen = GCM_IV,
	                     .ulIvBits = GCM_IV * 8,
	                     .pAAD = NULL,
	                     .ulAADLen = 0,
	                     .ulTagBits = GCM_TAG * 8};
	CK_MECHANISM mech = {tests[test].mech, NULL, 0};
	CK_ULONG len = sizeof(w->out);
	CK_RV rv;

	if (tests[test].mech != CKM_AES_GCM) {
		if ((rv = m->f->C_SignInit(s, &mech, key)) != CKR_OK)
			return rv;
		return m->f->C_Sign(s, w->in, 32, w->out, &len);
	}
	iv_next(w);
	mech.pParameter = &gcm;
	mech.ulParameterLen = sizeof(gcm);
	if ((rv = m->f->C_EncryptInit(s, &mech, key)) != CKR_OK)
		return rv;
	rv = m->f->C_Encrypt(s, w->in, AES_IN, w->out, &len);
	if (rv == CKR_OK && len != AES_IN + GCM_TAG)
		rv = CKR_GENERAL_ERROR;
	return rv;
}

static void fail(struct job *j, const char *what, CK_RV rv)
{
	if (rv == CKR_MECHANISM_INVALID)
		atomic_store(&j->unsupported, 1);
	/* Only the first failure of a case is worth a line. */
	if (atomic_exchange(&j->failed, 1) == 0)
		fprintf(stderr, "%s: %s: %s failed (rv 0x%lx)\n", j->m->name, tests[j->test].opt,
		        what, rv);
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct module *m = j->m;
	struct work *w = calloc(1, sizeof(*w));
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	double end;
	long ops = 0;
	CK_RV rv;

	if (w == NULL) {
		fail(j, "malloc", CKR_HOST_MEMORY);
		return NULL;
	}
	w->in[0] = 1;
	if (getrandom(w->iv, GCM_IV - 4, 0) != GCM_IV - 4) {
		fail(j, "getrandom", CKR_GENERAL_ERROR);
		free(w);
		return NULL;
	}
	if ((rv = session_open(m, j->test, &s, &key)) != CKR_OK) {
		fail(j, "session/key lookup", rv);
		free(w);
		return NULL;
	}
	end = now() + j->seconds;
	while (now() < end && !atomic_load(&j->failed)) {
		if ((rv = op_once(m, j->test, s, key, w)) != CKR_OK) {
			fail(j, tests[j->test].mech == CKM_AES_GCM ? "encrypt" : "sign", rv);
			break;
		}
		ops++;
	}
	m->f->C_CloseSession(s);
	atomic_fetch_add(&j->ops, ops);
	free(w);
	return NULL;
}

static double run(struct module *m, int test, int threads, double seconds)
{
	pthread_t tid[64];
	struct job j = {.m = m, .test = test, .seconds = seconds};
	double t0 = now();

	int started = 0;

	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, worker, &j) != 0) {
			fail(&j, "pthread_create", CKR_GENERAL_ERROR);
			break;
		}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (atomic_load(&j.unsupported))
		return RATE_UNSUPPORTED;
	if (atomic_load(&j.failed))
		return RATE_FAILED;
	return (double)atomic_load(&j.ops) / (now() - t0);
}

static int parse_threads(const char *s, int *out, int *n)
{
	char *copy = strdup(s), *tok, *save = NULL;

	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok && *n < THREADS_MAX;
	     tok = strtok_r(NULL, ",", &save)) {
		int v = atoi(tok);

		if (v < 1 || v > 64) {
			free(copy);
			return -1;
		}
		out[(*n)++] = v;
	}
	free(copy);
	return *n > 0 ? 0 : -1;
}

/* A rate (no decimals) or a ratio (two); "n/a" where the module lacks the
 * mechanism, "failed" where the case failed otherwise. */
static void print_cell(double v, int width, int decimals)
{
	if (v == RATE_UNSUPPORTED)
		printf(" %*s", width, "n/a");
	else if (v < 0)
		printf(" %*s", width, "failed");
	else
		printf(" %*.*f", width, decimals, v);
}

static void report(struct module *mods, int nmods, const int *threads, int nthreads,
                   const bool *want)
{
	for (int t = 0; t < TESTS; t++) {
		if (!want[t])
			continue;
		printf("\n%s\n%-12s", tests[t].name, "module");
		for (int k = 0; k < nthreads; k++)
			printf(" %10d thr", threads[k]);
		printf("\n");
		for (int i = 0; i < nmods; i++) {
			printf("%-12s", mods[i].name);
			for (int k = 0; k < nthreads; k++)
				print_cell(mods[i].rate[t][k], 14, 0);
			printf("\n");
		}
		for (int i = 0; i < nmods; i++)
			for (int o = 0; o < nmods; o++) {
				if (o == i)
					continue;
				printf("ratio %s/%s", mods[i].name, mods[o].name);
				for (int k = 0; k < nthreads; k++) {
					double a = mods[i].rate[t][k], b = mods[o].rate[t][k];

					print_cell(a < 0   ? a
					           : b < 0 ? b
					           : b > 0 ? a / b
					                   : RATE_FAILED,
					           6, 2);
				}
				printf("\n");
			}
	}
}

static int parse_ops(const char *s, bool *want)
{
	char *copy = strdup(s), *tok, *save = NULL;
	int n = 0;

	memset(want, 0, sizeof(bool) * TESTS);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int t = 0;

		while (t < TESTS && strcmp(tok, tests[t].opt) != 0)
			t++;
		if (t == TESTS) {
			free(copy);
			return -1;
		}
		want[t] = true;
		n++;
	}
	free(copy);
	return n > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct module mods[MODULES_MAX];
	int threads[THREADS_MAX] = {1, 8, 32}, nthreads = 3, nmods = 0, i = 1, status = 0;
	bool want[TESTS] = {true, true, true};
	double seconds = 3;

	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "-d") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "-o") == 0) {
			if (parse_ops(argv[i + 1], want) != 0)
				goto usage;
		} else if (strcmp(argv[i], "-t") != 0 ||
		           parse_threads(argv[i + 1], threads, &nthreads))
			goto usage;
	}
	for (; i < argc && nmods < MODULES_MAX; i++) {
		char *eq = strchr(argv[i], '='), *colon = strrchr(argv[i], ':');

		if (eq == NULL || colon == NULL || colon < eq)
			goto usage;
		*eq = *colon = '\0';
		mods[nmods] = (struct module){.name = argv[i], .path = eq + 1, .pin = colon + 1};
		if (module_load(&mods[nmods]) != 0)
			return 1;
		nmods++;
	}
	if (nmods == 0 || seconds <= 0)
		goto usage;
	for (int t = 0; t < TESTS; t++)
		for (int k = 0; k < nthreads && want[t]; k++)
			for (int m = 0; m < nmods; m++) {
				mods[m].rate[t][k] = run(&mods[m], t, threads[k], seconds);
				if (mods[m].rate[t][k] == RATE_FAILED)
					status = 1;
			}
	report(mods, nmods, threads, nthreads, want);
	for (int m = 0; m < nmods; m++)
		mods[m].f->C_Finalize(NULL);
	return status;
usage:
	fprintf(stderr,
	        "usage: p11-bench [-d seconds] [-t 1,8,32] [-o ec,rsa,aes] NAME=MODULE:PIN...\n");
	return 2;
}
