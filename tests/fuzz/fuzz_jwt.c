/*
 * fuzz_jwt.c: JWT verification, the first thing the front runs on a login
 * credential from the network. Any input is verified or refused with a
 * reason; nothing crashes. The key set and the seed tokens are the real
 * minikube ones from shared/vectors, read at run time (not copied here), at
 * a clock inside their validity so mutations reach the claims checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/auth/auth.h"
#include "fuzz.h"

#define VECTORS    KW_VECTORS_DIR "/k8s-tokens/minikube-2020-projected/"
#define CLOCK_2020 1598000000

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 16);
	size_t n;

	if (f == NULL || buf == NULL)
		abort();
	n = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static struct kw_auth_keyset *keyset(void)
{
	static struct kw_auth_keyset *ks;
	char err[256];
	size_t len;
	char *pem;

	if (ks != NULL)
		return ks;
	pem = slurp(VECTORS "sa.pub.pem", &len);
	if (kw_auth_keyset_new(&ks) != 0 ||
	    kw_auth_keyset_add_pem(ks, pem, len, NULL, err, sizeof(err)) != 0)
		abort();
	free(pem);
	return ks;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kw_auth_jwt_opts o;
	struct kw_auth_jwt *jwt = NULL;
	enum kw_auth_reason why;

	kw_auth_jwt_opts_init(&o);
	if (kw_auth_jwt_verify(keyset(), &o, (const char *)data, size, CLOCK_2020, &jwt, &why) == 0)
		kw_auth_jwt_free(jwt);
	else if (kw_auth_reason_code(why) == NULL)
		abort(); /* every refusal has a reason */
	return 0;
}

size_t fuzz_seeds(uint8_t ***out, size_t **lens)
{
	static const char *const files[] = {"projected-default-default-exp2020.jwt",
	                                    "projected-default-default-exp2030.jwt"};
	uint8_t **s = calloc(2, sizeof(*s));
	size_t *l = calloc(2, sizeof(*l));
	char path[512];

	if (s == NULL || l == NULL)
		abort();
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), VECTORS "%s", files[i]);
		s[i] = (uint8_t *)slurp(path, &l[i]);
	}
	*out = s;
	*lens = l;
	return 2;
}
