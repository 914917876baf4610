/*
 * replay.c: runs a fuzz target without libFuzzer, so every CI run (and the
 * sanitizer build) exercises it: the built-in seeds, then a fixed,
 * reproducible set of mutations of each (every single-bit flip of the
 * header and first fields, every truncation, random byte stores from a
 * seeded PRNG), then any files named on the command line (a saved corpus
 * or a crash to reproduce).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define RANDOM_MUTATIONS 2000

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t mutate_all(const uint8_t *seed, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	size_t runs = 0;

	if (buf == NULL)
		abort();
	for (size_t bit = 0; bit < len * 8 && bit < 512; bit++, runs++) {
		memcpy(buf, seed, len);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		LLVMFuzzerTestOneInput(buf, len);
	}
	for (size_t cut = 0; cut < len; cut++, runs++)
		LLVMFuzzerTestOneInput(seed, cut);
	for (int i = 0; i < RANDOM_MUTATIONS; i++, runs++) {
		memcpy(buf, seed, len);
		for (int k = 0; k < 1 + (int)(next() % 4); k++)
			buf[next() % len] = (uint8_t)next();
		LLVMFuzzerTestOneInput(buf, len);
	}
	free(buf);
	return runs;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		if (f)
			fclose(f);
		return 1;
	}
	data = malloc((size_t)len + 1);
	if (data == NULL || fread(data, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		free(data);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)len);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t **seeds;
	size_t *lens, n = fuzz_seeds(&seeds, &lens), runs = 0;

	for (size_t i = 0; i < n; i++) {
		LLVMFuzzerTestOneInput(seeds[i], lens[i]);
		runs += 1 + mutate_all(seeds[i], lens[i]);
		free(seeds[i]);
	}
	free(seeds);
	free(lens);
	for (int i = 1; i < argc; i++) {
		if (run_file(argv[i]) != 0)
			return 1;
		runs++;
	}
	printf("%zu passed, 0 failed\n", runs);
	return 0;
}
