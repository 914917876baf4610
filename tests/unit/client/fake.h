/*
 * fake.h: an in-process HTTP server for the client tests (libmicrohttpd, a
 * thread per connection) that answers every request with the scripted status
 * and body and records the last request it saw.
 */
#ifndef KW_TEST_FAKE_H
#define KW_TEST_FAKE_H

#include <pthread.h>

struct fake_record {
	unsigned requests;    /* since the last script */
	unsigned connections; /* since start */
	char method[16];
	char url[256]; /* as the server decoded it */
	char token[128];
	char vault_request[16];
	char body[4096];
};

struct fake {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;
	char url_base[64]; /* set by fake_start_tcp */
	unsigned status;
	char reply[8192];
	unsigned drop; /* close this many requests without answering */
	struct fake_record seen;
};

/* Serve on listen_fd (bound and listening), or on a fresh loopback port. */
int fake_start(struct fake *f, int listen_fd);
int fake_start_tcp(struct fake *f);
void fake_stop(struct fake *f);
/* Answer status/reply from now on, dropping the next `drop` requests first;
 * resets the record but the connection count. */
void fake_script_drop(struct fake *f, unsigned status, const char *reply, unsigned drop);
void fake_script(struct fake *f, unsigned status, const char *reply);
/* A copy of the record, taken under the lock (server threads write it). */
struct fake_record fake_seen(struct fake *f);

#endif
