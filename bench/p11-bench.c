/*
 * p11-bench: C_Sign throughput of any PKCS#11 modules, side by side.
 *
 *   p11-bench [-d seconds] [-t 1,8,32] NAME=MODULE:PIN [NAME=MODULE:PIN...]
 *
 * Each module is loaded with dlopen and initialised with CKF_OS_LOCKING_OK;
 * its first slot with a token is used. It must hold key pairs labelled
 * "bench-ec" (P-256) and "bench-rsa" (RSA-2048). For each mechanism
 * (CKM_ECDSA on a 32-byte digest, since SoftHSM2 2.6 lacks CKM_ECDSA_SHA256;
 * CKM_SHA256_RSA_PKCS) and thread count, every thread opens its own session
 * and signs a 32-byte input for the duration. Prints
 * signatures per second, then each module's ratio to every other module's,
 * all from the same run. No timing is asserted; this only measures.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#define MODULES_MAX 8
#define THREADS_MAX 8

struct module {
	const char *name;
	const char *path;
	const char *pin;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	double rate[2][THREADS_MAX];
};

struct job {
	struct module *m;
	CK_MECHANISM_TYPE mech;
	const char *label;
	double seconds;
	atomic_long ops;
	atomic_int failed;
};

static const struct {
	CK_MECHANISM_TYPE mech;
	const char *label;
	const char *name;
} tests[2] = {
    {CKM_ECDSA, "bench-ec", "ECDSA P-256 (CKM_ECDSA on a SHA-256 digest)"},
    {CKM_SHA256_RSA_PKCS, "bench-rsa", "RSA-2048 (CKM_SHA256_RSA_PKCS)"},
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

static CK_RV session_open(struct module *m, const char *label, CK_SESSION_HANDLE *s,
                          CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
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

static void *worker(void *arg)
{
	struct job *j = arg;
	struct module *m = j->m;
	CK_MECHANISM mech = {j->mech, NULL, 0};
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_BYTE msg[32] = {1}, sig[1024];
	double end;
	long ops = 0;
	CK_RV rv;

	if ((rv = session_open(m, j->label, &s, &key)) != CKR_OK) {
		fprintf(stderr, "%s: session/key '%s' failed (rv 0x%lx)\n", m->name, j->label, rv);
		atomic_store(&j->failed, 1);
		return NULL;
	}
	end = now() + j->seconds;
	while (now() < end) {
		CK_ULONG len = sizeof(sig);

		if ((rv = m->f->C_SignInit(s, &mech, key)) != CKR_OK ||
		    (rv = m->f->C_Sign(s, msg, sizeof(msg), sig, &len)) != CKR_OK) {
			fprintf(stderr, "%s: sign failed (rv 0x%lx)\n", m->name, rv);
			atomic_store(&j->failed, 1);
			break;
		}
		ops++;
	}
	m->f->C_CloseSession(s);
	atomic_fetch_add(&j->ops, ops);
	return NULL;
}

static double run(struct module *m, int test, int threads, double seconds)
{
	pthread_t tid[64];
	struct job j = {
	    .m = m, .mech = tests[test].mech, .label = tests[test].label, .seconds = seconds};
	double t0 = now();

	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, &j);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	if (atomic_load(&j.failed))
		return -1;
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

static void report(struct module *mods, int nmods, const int *threads, int nthreads)
{
	for (int t = 0; t < 2; t++) {
		printf("\n%s, signatures/s\n%-12s", tests[t].name, "module");
		for (int k = 0; k < nthreads; k++)
			printf(" %10d thr", threads[k]);
		printf("\n");
		for (int i = 0; i < nmods; i++) {
			printf("%-12s", mods[i].name);
			for (int k = 0; k < nthreads; k++)
				printf(" %14.0f", mods[i].rate[t][k]);
			printf("\n");
		}
		for (int i = 0; i < nmods; i++)
			for (int o = 0; o < nmods; o++) {
				if (o == i)
					continue;
				printf("ratio %s/%s", mods[i].name, mods[o].name);
				for (int k = 0; k < nthreads; k++)
					printf(" %6.2f",
					       mods[o].rate[t][k] > 0
					           ? mods[i].rate[t][k] / mods[o].rate[t][k]
					           : 0.0);
				printf("\n");
			}
	}
}

int main(int argc, char **argv)
{
	struct module mods[MODULES_MAX];
	int threads[THREADS_MAX] = {1, 8, 32}, nthreads = 3, nmods = 0, i = 1;
	double seconds = 3;

	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "-d") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "-t") != 0 ||
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
	for (int t = 0; t < 2; t++)
		for (int k = 0; k < nthreads; k++)
			for (int m = 0; m < nmods; m++) {
				mods[m].rate[t][k] = run(&mods[m], t, threads[k], seconds);
				if (mods[m].rate[t][k] < 0)
					return 1;
			}
	report(mods, nmods, threads, nthreads);
	for (int m = 0; m < nmods; m++)
		mods[m].f->C_Finalize(NULL);
	return 0;
usage:
	fprintf(stderr, "usage: p11-bench [-d seconds] [-t 1,8,32] NAME=MODULE:PIN...\n");
	return 2;
}
