/*
 * keeper: the process that holds keys. It alone holds the root key and the
 * unwrapped keys (in OpenSSL's secure heap), owns the store, evaluates ACL
 * policies and performs every operation that touches key material.
 *
 * Runs only in the keeper process, after fork. It listens on no socket: its
 * whole input is the IPC channels from the front, one thread per channel.
 * A malformed message on a channel is fatal (the front is then presumed
 * compromised); a well-formed but wrong request is an error reply.
 *
 * Caching policy for key material, stated once here: a key's versions are
 * unwrapped on first use after unseal and stay in secure memory until the
 * key is deleted or rotated-away-from by config, keyward is sealed, or the
 * process exits. Sealing wipes them all, and the root key.
 */
#ifndef KW_KEEPER_H
#define KW_KEEPER_H

#include "../common/common.h"

#define KW_NET_IDS_MAX   16 /* network identities (one per listener) */
#define KW_NET_CIDRS_MAX 16 /* allowed source ranges per identity */

/*
 * A listener-bound network identity from the YAML config: whoever reaches
 * listener `port` from an `allow` range, with no token, is "net:<name>" with
 * these policies. The front refuses other sources before TLS; the keeper
 * checks port and address again, so a front bug cannot hand the identity
 * to another listener or address.
 */
struct kw_net_identity {
	uint16_t port;
	char name[KW_NAME_MAX + 1]; /* identity is "net:<name>" */
	char policies[1024];        /* comma-separated policy names */
	struct kw_cidr allow[KW_NET_CIDRS_MAX];
	size_t nallow;
};

struct kw_keeper_conf {
	char store_url[1024];     /* "sqlite:/path/keyward.db" or a path */
	bool dev;                 /* initialise (1 share) and unseal at start */
	char dev_root_token[256]; /* dev mode's root token id; must be set with dev */
	size_t secure_heap_bytes; /* 0 = default */
	char audit_dir[1024];     /* "" = "audit" beside the SQLite file */
	bool audit_unforced;      /* reply before the entry is durable (a loss window) */
	char audit_sink[1024];    /* "", "stdout", "syslog" or a file path (JSON lines) */
	struct kw_net_identity net_ids[KW_NET_IDS_MAX];
	size_t n_net_ids;
	/* Called once the secure heap is locked (mlock may need root) and
	 * before the store opens: the daemon's user switch and syscall filter.
	 * Non-zero stops the keeper. */
	int (*confine)(void);
};

/* Serve the channels until every one is closed (then returns 0) or a fatal
 * error. Call in the keeper process only. */
int kw_keeper_run(const struct kw_keeper_conf *c, const int *chans, size_t nchans) KW_MUST_CHECK;

#endif
