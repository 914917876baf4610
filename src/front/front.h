/*
 * front: the network-facing process. Listeners (TCP with TLS 1.2/1.3 through
 * libmicrohttpd's GnuTLS backend, plain TCP for dev mode, unix sockets),
 * HTTP/1.1 routing of the Vault-compatible REST API, JSON in and out, and the
 * translation of each request into one keeper IPC message. Listeners may ask
 * TLS clients for certificates (mTLS, for the cert method) and may carry a
 * network identity, refusing connections from outside its source ranges
 * before TLS.
 *
 * Runs only in the front process, after fork, with the keeper channels as
 * its only link to keys. It never sees key material, never opens the store,
 * and decides no policy: it forwards the caller's token and the canonical
 * operation, and the keeper decides. Malformed network input is always an
 * error reply with a stable code, never a crash or a keeper message.
 *
 * Threads: a thread per connection (libmicrohttpd's); a request borrows one
 * keeper channel from a pool for its length, so requests on different
 * threads never share a channel, and the pool's size bounds how many
 * requests the keeper works on at once.
 */
#ifndef KW_FRONT_H
#define KW_FRONT_H

#include "../common/common.h"

#define KW_LISTENERS_MAX    16
#define KW_BODY_MAX_DEFAULT (1u * 1024 * 1024)
#define KW_BODY_MAX_LIMIT   (32u * 1024 * 1024)

#define KW_LISTENER_ALLOW_MAX    16   /* source ranges of one network identity */
#define KW_LISTENER_POLICIES_MAX 1024 /* bytes of its comma-separated policies */

/*
 * Client certificates on a TLS listener (mTLS).
 * NONE: none asked for. REQUEST: asked for (GnuTLS sends the
 * tls_client_ca_file names) and optional; a chain sent is handed to the
 * cert method as presented, which verifies it against its roles' CAs — TLS
 * only proved the client holds the leaf's key. REQUIRE: a request without a
 * chain that verifies against tls_client_ca_file (at the current time, EKU
 * clientAuth when present) is refused with 403 before routing.
 */
enum kw_client_auth {
	KW_CLIENT_AUTH_NONE = 0,
	KW_CLIENT_AUTH_REQUEST,
	KW_CLIENT_AUTH_REQUIRE,
};

/*
 * A network identity bound to a listener: whoever connects from an allow
 * range is "net:<name>" when sending no token. The front refuses every
 * other source address before TLS (and counts and logs it); the keeper,
 * which holds the same identity in its own conf, decides the identity and
 * its policies. name "" = the listener has none.
 */
struct kw_listener_identity {
	char name[KW_NAME_MAX + 1];
	char policies[KW_LISTENER_POLICIES_MAX]; /* comma-separated; the keeper's copy rules */
	struct kw_cidr allow[KW_LISTENER_ALLOW_MAX];
	size_t nallow;
};

struct kw_listener_conf {
	/* "127.0.0.1:8200", "[::1]:8200", "0.0.0.0:8200" or "unix:/path/to.sock" */
	char address[256];
	/* PEM files; both empty = plain HTTP (allowed only on loopback or unix). */
	char tls_cert_file[512];
	char tls_key_file[512];
	/* PEM bundle of the CAs client certificates are asked for (and, with
	 * REQUIRE, verified against); needs TLS and client_auth != NONE. */
	char tls_client_ca_file[512];
	enum kw_client_auth client_auth;
	struct kw_listener_identity identity;
};

struct kw_front_conf {
	struct kw_listener_conf listeners[KW_LISTENERS_MAX];
	size_t nlisteners;
	size_t max_body_bytes;       /* per request; KW_BODY_MAX_DEFAULT if 0 */
	unsigned threads;            /* keeper channels; 0 = default */
	unsigned connection_timeout; /* seconds idle before a keep-alive connection closes */
	unsigned connection_limit;   /* per listener */
	unsigned rate;               /* requests a second per client address; 0 = no limit */
	unsigned burst;              /* requests at once per address; 0 = rate */
	/* Called once every listener is bound and its keys read, before the
	 * first connection is accepted: the daemon's user switch and syscall
	 * filter. Non-zero stops the front. */
	int (*confine)(void);
};

/*
 * The TCP port of a listener address ("10.0.0.1:7443" -> 7443), for the
 * keeper's copy of a network identity. KW_ERR_CONFIG for an address that
 * does not parse, KW_ERR_INVALID for a unix socket (no port).
 */
int kw_listener_address_port(const char *address, uint16_t *port) KW_MUST_CHECK;

/* The number of keeper channels the daemon must create for c: how many
 * requests the keeper works on at once. */
unsigned kw_front_channels(const struct kw_front_conf *c);

/*
 * Start every listener and serve until SIGTERM/SIGINT, or until a keeper
 * channel fails (then it logs and returns KW_ERR_IPC so the daemon stops).
 * chans are connected stream sockets to the keeper, kw_front_channels(c) of
 * them.
 * Returns 0 after a clean stop.
 */
int kw_front_run(const struct kw_front_conf *c, const int *chans, size_t nchans) KW_MUST_CHECK;

/*
 * Remove the socket files of c's unix listeners that nothing answers on any
 * more. The front cannot (its sandbox removes no files): the daemon's
 * parent calls this once the front has exited. A live socket (another
 * keywardd's) is left alone.
 */
void kw_front_unix_cleanup(const struct kw_front_conf *c);

#endif
