/* fuzz.h: what each fuzz target offers its drivers (libFuzzer or replay). */
#ifndef KW_FUZZ_H
#define KW_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Built-in seed inputs (malloc'd), so the replay driver needs no files. */
size_t fuzz_seeds(uint8_t ***seeds, size_t **lens);

#endif
