/*
 * config: keywardd's YAML configuration (libfyaml), read by the parent
 * before it forks, so both children start from the same validated values.
 * Unknown keys are errors: a typo in a security setting must not be ignored.
 * A listener's network identity is written twice: into front.listeners[]
 * (the front refuses other sources before TLS) and keeper.net_ids, keyed by
 * the listener's port (the keeper grants it); a unix socket cannot carry one.
 */
#ifndef KW_DAEMON_CONFIG_H
#define KW_DAEMON_CONFIG_H

#include "../front/front.h"
#include "../keeper/keeper.h"

struct kw_daemon_conf {
	struct kw_front_conf front;
	struct kw_keeper_conf keeper;
	char storage_path[1024];
	char user[64]; /* "": keep the user keywardd was started as */
	enum kw_log_level log_level;
};

void kw_config_defaults(struct kw_daemon_conf *c);
/* Read and validate path into c; on error logs the key and the reason. */
int kw_config_load(const char *path, struct kw_daemon_conf *c) KW_MUST_CHECK;

#endif
