/*
 * main.c: keywardd's command line. Reads the configuration, sets up dev
 * mode (like `vault server -dev`: plain HTTP on loopback, a throw-away
 * SQLite store, initialised and unsealed, root token printed), then hands
 * over to the process supervisor.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../crypto/crypto.h"
#include "config.h"
#include "proc.h"

#define KEYWARD_VERSION     "0.1.0"
#define DEV_ADDRESS_DEFAULT "127.0.0.1:8200"

struct args {
	const char *config;
	bool dev;
	const char *dev_address;
	const char *dev_token;
	const char *log_level;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: keywardd [-config FILE] [-log-level LEVEL]\n"
	        "       keywardd -dev [-dev-listen-address ADDR] [-dev-root-token-id TOKEN]\n"
	        "                [-config FILE]\n"
	        "\n"
	        "  -config FILE               YAML configuration (see docs/configuration.md)\n"
	        "  -dev                       development server: in-memory-like temporary\n"
	        "                             store, initialised and unsealed, NOT for production\n"
	        "  -dev-listen-address ADDR   dev listener (default " DEV_ADDRESS_DEFAULT ")\n"
	        "  -dev-root-token-id TOKEN   dev root token (default: random)\n"
	        "  -log-level LEVEL           debug, info, warn or error\n"
	        "  -version                   print the version\n");
}

/* Go's flag style, as Vault: -flag VALUE, -flag=VALUE, --flag too. */
static int args_parse(int argc, char **argv, struct args *a)
{
	int i;

	for (i = 1; i < argc; i++) {
		char *name = argv[i], *value = NULL, *eq;
		const char **slot = NULL;

		if (name[0] != '-')
			goto bad;
		name += name[1] == '-' ? 2 : 1;
		if ((eq = strchr(name, '=')) != NULL) {
			*eq = '\0';
			value = eq + 1;
		}
		if (strcmp(name, "dev") == 0 && value == NULL) {
			a->dev = true;
			continue;
		}
		if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(name, "version") == 0) {
			printf("keywardd %s\n", KEYWARD_VERSION);
			exit(0);
		}
		if (strcmp(name, "config") == 0)
			slot = &a->config;
		else if (strcmp(name, "dev-listen-address") == 0)
			slot = &a->dev_address;
		else if (strcmp(name, "dev-root-token-id") == 0)
			slot = &a->dev_token;
		else if (strcmp(name, "log-level") == 0)
			slot = &a->log_level;
		else
			goto bad;
		if (value == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "keywardd: -%s needs a value\n", name);
				return KW_ERR_INVALID;
			}
			value = argv[++i];
		}
		*slot = value;
	}
	return 0;
bad:
	fprintf(stderr, "keywardd: unknown argument '%s'\n", argv[i]);
	usage(stderr);
	return KW_ERR_INVALID;
}

static char dev_dir[256];
static char dev_token[128];

static int dev_setup(const struct args *a, struct kw_daemon_conf *c)
{
	uint8_t rnd[24];
	char *b64 = NULL;

	snprintf(dev_dir, sizeof(dev_dir), "/tmp/keyward-dev-XXXXXX");
	if (mkdtemp(dev_dir) == NULL) {
		kw_error("dev: cannot create a temporary directory");
		return KW_ERR_IO;
	}
	snprintf(c->storage_path, sizeof(c->storage_path), "%s/keyward.db", dev_dir);
	if (a->dev_address != NULL || c->front.nlisteners == 0) {
		memset(&c->front.listeners[0], 0, sizeof(c->front.listeners[0]));
		if (kw_strlcpy(c->front.listeners[0].address,
		               a->dev_address ? a->dev_address : DEV_ADDRESS_DEFAULT,
		               sizeof(c->front.listeners[0].address)) != 0)
			return KW_ERR_CONFIG;
		c->front.nlisteners = 1;
	}
	if (a->dev_token != NULL) {
		if (kw_strlcpy(dev_token, a->dev_token, sizeof(dev_token)) != 0 || !*dev_token) {
			kw_error("dev: the root token id must be 1 to %zu characters",
			         sizeof(dev_token) - 1);
			return KW_ERR_CONFIG;
		}
	} else {
		if (kw_random(rnd, sizeof(rnd)) != 0 ||
		    kw_base64url_encode(rnd, sizeof(rnd), &b64) != 0)
			return KW_ERR_CRYPTO;
		snprintf(dev_token, sizeof(dev_token), "kws.%s", b64);
		free(b64);
	}
	c->keeper.dev = true;
	return kw_strlcpy(c->keeper.dev_root_token, dev_token, sizeof(c->keeper.dev_root_token));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (remove(path) != 0)
		kw_warn("dev: cannot remove %s", path);
	return 0;
}

/* Remove the dev directory and all in it (the store, the audit log). */
static void dev_cleanup(void)
{
	if (dev_dir[0] != '\0')
		nftw(dev_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void dev_banner(void *arg)
{
	const struct kw_daemon_conf *c = arg;
	const struct kw_listener_conf *l = &c->front.listeners[0];
	bool tls = l->tls_cert_file[0] != '\0';
	bool unix_sock = strncmp(l->address, "unix:", 5) == 0;

	/* The dev root token goes to stdout, on purpose and only in dev mode,
	 * as `vault server -dev` does; never to the log. */
	printf("keywardd is running in DEV mode: everything is in %s and is lost at exit.\n"
	       "Do not run dev mode in production.\n\n",
	       dev_dir);
	if (unix_sock)
		printf("    export KEYWARD_ADDR='%s'\n", l->address);
	else
		printf("    export KEYWARD_ADDR='%s://%s'\n", tls ? "https" : "http", l->address);
	printf("    export KEYWARD_TOKEN='%s'\n\n", dev_token);
	printf("Root token: %s\n", dev_token);
	fflush(stdout);
}

/*
 * The user the children become (config `user:`). Root with none set keeps
 * working, with a warning: a container may rely on its own user namespace,
 * but on a host the keeper and the front should not hold root.
 */
static int user_setup(const struct kw_daemon_conf *c, struct kw_sandbox_user *u)
{
	memset(u, 0, sizeof(*u));
	if (c->user[0] == '\0') {
		if (geteuid() == 0)
			kw_warn(
			    "running as root with no `user:` set: the keeper and the front keep "
			    "root; name an unprivileged user for them to become");
		return 0;
	}
	if (kw_sandbox_user_resolve(c->user, u) != 0)
		return 2;
	/* The dev directory is ours (root's): the keeper must write in it. */
	if (dev_dir[0] != '\0' && geteuid() == 0 && chown(dev_dir, u->uid, u->gid) != 0) {
		kw_error("dev: cannot give %s to user '%s'", dev_dir, u->name);
		return 1;
	}
	kw_info("the keeper and the front will run as user '%s' (uid %u)", u->name,
	        (unsigned)u->uid);
	return 0;
}

int main(int argc, char **argv)
{
	struct kw_daemon_conf c;
	struct kw_sandbox_user run_as;
	struct args a = {0};
	int r;

	kw_log_set_proc("keywardd");
	if (args_parse(argc, argv, &a) != 0)
		return 2;
	kw_config_defaults(&c);
	if (a.config != NULL && kw_config_load(a.config, &c) != 0)
		return 2;
	if (a.log_level != NULL && kw_log_level_from_name(a.log_level, &c.log_level) != 0) {
		fprintf(stderr, "keywardd: -log-level must be debug, info, warn or error\n");
		return 2;
	}
	kw_log_set_level(c.log_level);
	if (a.dev && dev_setup(&a, &c) != 0)
		return 1;
	if (c.front.nlisteners == 0) {
		kw_error("no listeners configured (give -config FILE, or -dev)");
		return 2;
	}
	if (c.storage_path[0] == '\0') {
		kw_error("no storage path configured (storage.path in the config file)");
		return 2;
	}
	if (kw_strlcpy(c.keeper.store_url, c.storage_path, sizeof(c.keeper.store_url)) != 0)
		return 2;
	if ((r = user_setup(&c, &run_as)) != 0)
		return r;
	/* Once, before any thread: the front fetches JWKS and asks the
	 * Kubernetes API server (TokenReview) with libcurl. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		kw_error("cannot initialise libcurl");
		return 1;
	}
	r = kw_proc_run(&c, &run_as, a.dev ? dev_banner : NULL, &c);
	curl_global_cleanup();
	dev_cleanup();
	kw_wipe(dev_token, sizeof(dev_token));
	return r;
}
