/*
 * audit-verify-bench: how fast the audit log commits, opens and verifies.
 *
 *   audit-verify-bench [-n entries] [-t threads] [-c commits] [-d dir] [-C] [-k]
 *
 * 1. group commit: -t threads (16) each commit -c entries (1000) with
 *    kw_audit_log_commit (fdatasync per group), into a fresh log;
 * 2. bulk: -n entries (1,000,000) appended, one sync at the end;
 * 3. a signed checkpoint of the whole log;
 * 4. open with the caches, and open rebuilding them (caches deleted);
 * 5. kw_audit_verify_dir over everything (with -C the page cache is dropped
 *    first, as root, for a cold read).
 * Prints rates; asserts nothing. The temporary directory under -d (/tmp) is
 * removed unless -k.
 */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/audit/audit.h"
#include "../src/crypto/crypto.h"

struct opts {
	uint64_t entries;
	int threads;
	int commits;
	const char *parent;
	bool cold;
	bool keep;
};

struct committer {
	struct kw_audit_log *l;
	int id, count;
	uint64_t *lat_ns;
	int rc;
};

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "audit-verify-bench: %s: %s\n", what, kw_err_str(rc));
	exit(1);
}

/* A plausible entry, ~250 bytes as a leaf. */
static void entry_fill(struct kw_audit_entry *e, uint64_t i, char *rid, size_t ridlen)
{
	static const char *const ops[] = {"sign", "encrypt", "decrypt", "hmac"};

	memset(e, 0, sizeof(*e));
	snprintf(rid, ridlen, "req-%016" PRIx64, i);
	e->node_id = "bench-node";
	e->auth_method = "kubernetes";
	e->subject = "system:serviceaccount:payments:api";
	e->accessor = "7c1e0a9d3b5f4e2a8c6d0b1f";
	e->source_addr = "10.20.30.40";
	e->listener_port = 8200;
	e->operation = ops[i % 4];
	e->path = "transit/sign/payments-signing-key";
	e->key_name = "payments-signing-key";
	e->key_version = 3;
	e->has_input_sha256 = true;
	memset(e->input_sha256, (int)(i & 0xff), 32);
	e->has_output_sha256 = true;
	memset(e->output_sha256, (int)((i >> 8) & 0xff), 32);
	e->request_id = rid;
}

static void *commit_run(void *arg)
{
	struct committer *c = arg;
	char rid[40];

	for (int i = 0; i < c->count && c->rc == 0; i++) {
		struct kw_audit_entry e;
		uint64_t t0 = kw_monotonic_ns(), idx;

		entry_fill(&e, (uint64_t)c->id << 32 | (uint64_t)i, rid, sizeof(rid));
		c->rc = kw_audit_log_commit(c->l, &e, &idx);
		c->lat_ns[i] = kw_monotonic_ns() - t0;
	}
	return NULL;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static char *subdir(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p == NULL)
		die("memory", KW_ERR_NOMEM);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static void bench_group_commit(const struct opts *o, const char *dir)
{
	struct committer *c = calloc((size_t)o->threads, sizeof(*c));
	pthread_t *th = calloc((size_t)o->threads, sizeof(*th));
	uint64_t total = (uint64_t)o->threads * (uint64_t)o->commits, *all, t0, ns;
	struct kw_audit_log *l = NULL;
	struct kw_audit_head h;
	int rc;

	all = calloc(total, sizeof(*all));
	if (c == NULL || th == NULL || all == NULL)
		die("memory", KW_ERR_NOMEM);
	if ((rc = kw_audit_log_open(dir, NULL, &l)) != 0)
		die("open", rc);
	t0 = kw_monotonic_ns();
	for (int i = 0; i < o->threads; i++) {
		c[i] = (struct committer){.l = l,
		                          .id = i,
		                          .count = o->commits,
		                          .lat_ns = all + (size_t)i * (size_t)o->commits};
		pthread_create(&th[i], NULL, commit_run, &c[i]);
	}
	for (int i = 0; i < o->threads; i++) {
		pthread_join(th[i], NULL);
		if (c[i].rc != 0)
			die("commit", c[i].rc);
	}
	ns = kw_monotonic_ns() - t0;
	if ((rc = kw_audit_log_head(l, &h)) != 0)
		die("head", rc);
	qsort(all, total, sizeof(*all), u64_cmp);
	printf("group commit: %d threads x %d commits: %.0f commits/s, %" PRIu64
	       " fdatasyncs (%.1f commits each), latency p50 %.2f ms p99 %.2f ms\n",
	       o->threads, o->commits, (double)total / secs(ns), h.syncs,
	       (double)total / (double)(h.syncs ? h.syncs : 1), (double)all[total / 2] / 1e6,
	       (double)all[total * 99 / 100] / 1e6);
	(void)kw_audit_log_close(l);
	free(all);
	free(th);
	free(c);
}

/* Bulk-append o->entries and sign a checkpoint; returns the note. */
static char *bench_fill(const struct opts *o, const char *dir, const struct kw_audit_signer *s)
{
	struct kw_audit_log *l = NULL;
	uint64_t t0, ns;
	char rid[40], *note = NULL;
	int rc;

	if ((rc = kw_audit_log_open(dir, NULL, &l)) != 0)
		die("open", rc);
	t0 = kw_monotonic_ns();
	for (uint64_t i = 0; i < o->entries; i++) {
		struct kw_audit_entry e;

		entry_fill(&e, i, rid, sizeof(rid));
		if ((rc = kw_audit_log_append(l, &e, NULL)) != 0)
			die("append", rc);
	}
	if ((rc = kw_audit_log_sync(l)) != 0)
		die("sync", rc);
	ns = kw_monotonic_ns() - t0;
	printf("append: %" PRIu64 " entries in %.2f s: %.0f entries/s (one sync at the end)\n",
	       o->entries, secs(ns), (double)o->entries / secs(ns));
	if ((rc = kw_audit_log_checkpoint(l, s, &note)) != 0)
		die("checkpoint", rc);
	if ((rc = kw_audit_log_close(l)) != 0)
		die("close", rc);
	return note;
}

static void bench_open(const char *dir, const char *what)
{
	struct kw_audit_log *l = NULL;
	struct kw_audit_head h;
	uint64_t t0 = kw_monotonic_ns(), ns;
	int rc;

	if ((rc = kw_audit_log_open(dir, NULL, &l)) != 0)
		die("open", rc);
	ns = kw_monotonic_ns() - t0;
	if ((rc = kw_audit_log_head(l, &h)) != 0)
		die("head", rc);
	printf("open %s: %" PRIu64 " entries in %.3f s\n", what, h.size, secs(ns));
	(void)kw_audit_log_close(l);
}

static void drop_page_cache(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd < 0 || write(fd, "3", 1) != 1)
		fprintf(stderr, "audit-verify-bench: cannot drop the page cache (need root)\n");
	if (fd >= 0)
		close(fd);
}

static void bench_verify(const struct opts *o, const char *dir, const struct kw_audit_signer *s,
                         const char *note)
{
	struct kw_audit_check_result r;
	struct kw_audit_verifier v;
	char *vkey = NULL;
	uint64_t t0, ns;
	int rc;

	if ((rc = kw_audit_verifier_encode(s->name, s->public_key, &vkey)) != 0 ||
	    (rc = kw_audit_verifier_decode(vkey, &v)) != 0)
		die("verifier key", rc);
	if (o->cold)
		drop_page_cache();
	t0 = kw_monotonic_ns();
	rc = kw_audit_verify_dir(dir, &v, NULL, &note, 1, NULL, NULL, &r);
	ns = kw_monotonic_ns() - t0;
	if (rc != 0)
		die(r.reason[0] ? r.reason : "verify", rc);
	printf("verify%s: %" PRIu64 " entries in %.2f s: %.0f entries/s (verified size %" PRIu64
	       ")\n",
	       o->cold ? " (cold cache)" : "", r.entries, secs(ns), (double)r.entries / secs(ns),
	       r.verified_size);
	free(vkey);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int c;

	*o = (struct opts){.entries = 1000000, .threads = 16, .commits = 1000, .parent = "/tmp"};
	while ((c = getopt(argc, argv, "n:t:c:d:Ck")) != -1) {
		switch (c) {
		case 'n':
			o->entries = strtoull(optarg, NULL, 10);
			break;
		case 't':
			o->threads = atoi(optarg);
			break;
		case 'c':
			o->commits = atoi(optarg);
			break;
		case 'd':
			o->parent = optarg;
			break;
		case 'C':
			o->cold = true;
			break;
		case 'k':
			o->keep = true;
			break;
		default:
			fprintf(stderr,
			        "usage: %s [-n entries] [-t threads] [-c commits] [-d dir] "
			        "[-C] [-k]\n",
			        argv[0]);
			exit(2);
		}
	}
	if (o->threads < 1 || o->commits < 1 || o->entries < 1)
		exit(2);
}

int main(int argc, char **argv)
{
	struct kw_audit_signer s = {.name = "bench.keyward.local/audit", .sign = kw_audit_sign_key};
	struct kw_key *k = NULL;
	char *root, *gc, *log, *note, *p;
	struct opts o;
	int rc;

	parse_args(argc, argv, &o);
	kw_log_set_level(KW_LOG_WARN);
	root = subdir(o.parent, "kw-audit-bench-XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if ((rc = kw_key_generate(KW_KEY_ED25519, 0, &k)) != 0 ||
	    (rc = kw_audit_key_public(k, s.public_key)) != 0)
		die("audit key", rc);
	s.ctx = k;
	gc = subdir(root, "group");
	log = subdir(root, "log");
	bench_group_commit(&o, gc);
	note = bench_fill(&o, log, &s);
	bench_open(log, "with caches");
	p = subdir(log, "tree.hashes");
	unlink(p);
	free(p);
	p = subdir(log, "offsets.idx");
	unlink(p);
	free(p);
	bench_open(log, "rebuilding caches");
	bench_verify(&o, log, &s, note);
	if (!o.keep)
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("kept %s\n", root);
	free(note);
	free(gc);
	free(log);
	free(root);
	kw_key_free(k);
	return 0;
}
