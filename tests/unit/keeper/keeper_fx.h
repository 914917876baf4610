/*
 * keeper_fx.h: the keeper test fixture shared by the keeper's test
 * programs: a real keeper on a fresh database in a thread, driven over an
 * IPC socketpair as the front drives it.
 */
#ifndef KW_TEST_KEEPER_FX_H
#define KW_TEST_KEEPER_FX_H

#include <pthread.h>
#include <stdint.h>

#include "../../../src/ipc/ipc.h"
#include "../../../src/keeper/keeper.h"

#define SHARE_BYTES 33

struct fx {
	char dir[64];
	char db[128];
	struct kw_keeper_conf conf;
	pthread_t thread;
	int fd;  /* our end */
	int kfd; /* the keeper's end */
	int rc;
	uint8_t shares[5][SHARE_BYTES];
	char root[128];
};

void keeper_start(struct fx *f);
void keeper_stop(struct fx *f);
/* One request/reply. Fields: tag, kind char ('s' str, 'u' u32, 'q' u64,
 * 'b' bytes + size_t len), value...; 0 ends. Returns the reply's status. */
int call(struct fx *f, uint16_t type, const char *token, struct kw_ipc_msg *reply, ...);
/* Call with an optional NAME (NULL for none) and discard the reply. */
int call0(struct fx *f, uint16_t type, const char *token, ...);
/* INIT with 5 shares, threshold 3, then unseal; f->root is the root token. */
void init_unseal(struct fx *f);
int setup(void **state);
int teardown(void **state);

#endif
