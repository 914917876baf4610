/*
 * audit.c: keyward audit verify | search | prove | report — checking the
 * verifiable audit log and reading it.
 *
 * Trust: what these commands vouch for rests on the audit verifier key. With
 * -key (or -key-file) nothing the server says is believed unless it checks
 * out against that key: checkpoints are signature-checked, every root is
 * recomputed here (src/audit's verifier), every proof is checked locally.
 * Without it the server's own key is fetched and used, and the command says
 * so on stderr: that catches a damaged or edited log, not a lying server.
 * search and report show what the server's search returns; verify is the
 * integrity check.
 *
 * Nothing secret passes here: entries hold digests and token accessors only.
 * Server text is printed with control characters replaced.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../audit/audit.h"
#include "cli.h"

#define BAR_WIDTH     40
#define LABEL_MAX     160
#define NOTES_MAX     (CLI_CHECKPOINTS_MAX + 2) /* files, the server's, the stored one */
#define TIME_TEXT_MAX 40
#define SEARCH_PAGE   1000 /* matches asked for per search request: the API's most */

/* ---- small helpers ---- */

static int fail_line(const char *fmt, ...) KW_PRINTF(1, 2);
static int fail_line(const char *fmt, ...)
{
	char line[CLI_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cli_errorf("%s", line);
	return CLI_EXIT_FAIL;
}

/* Server text onto b, control characters as '?'. */
static int buf_text(struct kw_buf *b, const char *s)
{
	int r = 0;

	for (; *s != '\0' && r == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		r = kw_buf_append_u8(b, ch < 0x20 || ch == 0x7f ? '?' : ch);
	}
	return r;
}

/* Literal, value pairs until a NULL literal: literals as they are, values
 * as server text ("-" when empty; a NULL value is skipped). */
static int buf_pairs(struct kw_buf *b, ...)
{
	const char *lit;
	va_list ap;
	int r = 0;

	va_start(ap, b);
	while (r == 0 && (lit = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);

		r = kw_buf_append_str(b, lit);
		if (r == 0 && v != NULL)
			r = buf_text(b, *v ? v : "-");
	}
	va_end(ap);
	return r;
}

static int buf_printf(struct kw_buf *b, const char *fmt, ...) KW_PRINTF(2, 3);
static int buf_printf(struct kw_buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return KW_ERR_INTERNAL;
	return kw_buf_append(b, line, (size_t)n);
}

static int buf_flush(struct kw_buf *b, int r)
{
	if (r == 0)
		r = cli_write(b->data, b->len);
	kw_buf_cleanup(b);
	return r;
}

/* A string field of an entry object, "" when absent or not a string. */
static const char *jtext(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static long long jnum(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* A u64 field of a reply: KW_ERR_INVALID if absent, mistyped or negative. */
static int jindex(const json_t *o, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return KW_ERR_INVALID;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static void b64_text(const uint8_t *p, size_t n, char *out, size_t len)
{
	char *s = NULL;

	if (kw_base64_encode(p, n, &s) != 0) {
		snprintf(out, len, "?");
		return;
	}
	snprintf(out, len, "%s", s);
	free(s);
}

/* The newest entries when a command starts: how far a search goes. Every
 * request appends an entry, so "to the end" would chase its own tail. */
static int log_size(struct kw_client *c, const char *what, uint64_t *size)
{
	json_t *d = NULL;
	int r;

	if (kw_client_audit_entries(c, 0, 1, &d) != 0)
		return cli_fail(c, "%s: reading the log's size", what);
	r = jindex(d, "tree_size", size);
	kw_client_json_free(d);
	if (r != 0)
		return fail_line("%s: the server's entries reply has no tree_size", what);
	return CLI_EXIT_OK;
}

/* An API entry {"index", "leaf", "entry"}: its leaf bytes (malloc'd). */
static int entry_leaf(const json_t *item, uint64_t *index, uint8_t **leaf, size_t *len)
{
	const char *b64 = json_string_value(json_object_get(item, "leaf"));

	if (b64 == NULL || jindex(item, "index", index) != 0)
		return KW_ERR_INVALID;
	return kw_base64_decode(b64, strlen(b64), leaf, len);
}

/* ---- the verifier key and checkpoints ---- */

struct notes {
	char *text[NOTES_MAX];
	char label[NOTES_MAX][LABEL_MAX];
	size_t n;
};

static void notes_cleanup(struct notes *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->text[i]);
	ns->n = 0;
}

/* Take text (malloc'd) as the next note. */
static int notes_add(struct notes *ns, char *text, const char *fmt, ...) KW_PRINTF(3, 4);
static int notes_add(struct notes *ns, char *text, const char *fmt, ...)
{
	va_list ap;

	if (ns->n == NOTES_MAX) {
		free(text);
		return KW_ERR_LIMIT;
	}
	ns->text[ns->n] = text;
	va_start(ap, fmt);
	vsnprintf(ns->label[ns->n], LABEL_MAX, fmt, ap);
	va_end(ap);
	ns->n++;
	return 0;
}

/* A checkpoint file: its text with the final newline a note ends with
 * (cli_read_text drops trailing blanks). */
static int note_file(const char *path, char **out)
{
	struct kw_buf b;
	char *s;
	size_t n;
	int r;

	kw_buf_init(&b);
	if ((r = cli_read_text("audit checkpoint", path, &b)) != 0)
		return r;
	n = strlen((const char *)b.data) + 2;
	if ((s = malloc(n)) == NULL) {
		kw_buf_cleanup(&b);
		return KW_ERR_NOMEM;
	}
	snprintf(s, n, "%s\n", (const char *)b.data);
	kw_buf_cleanup(&b);
	*out = s;
	return 0;
}

static int notes_files(const struct cli_args *a, struct notes *ns)
{
	for (size_t i = 0; i < a->ncheckpoints; i++) {
		char *text = NULL;

		if (note_file(a->checkpoints[i], &text) != 0)
			return CLI_EXIT_FAIL;
		if (notes_add(ns, text, "checkpoint file %s", a->checkpoints[i]) != 0)
			return fail_line("too many checkpoints");
	}
	return CLI_EXIT_OK;
}

/* The server's newest checkpoint, added to ns. */
static int server_note(struct kw_client *c, const char *what, struct notes *ns)
{
	const char *s = NULL;
	json_t *d = NULL;
	char *note = NULL;
	int rc = CLI_EXIT_OK;

	if (kw_client_audit_checkpoint(c, &d) != 0)
		return cli_fail(c, "%s: fetching the newest checkpoint", what);
	if (kw_client_json_string(d, "checkpoint", &s) != 0 || (note = strdup(s)) == NULL ||
	    notes_add(ns, note, "the server's newest checkpoint") != 0)
		rc = fail_line("%s: the server's checkpoint reply is incomplete", what);
	kw_client_json_free(d);
	return rc;
}

static int verifier_parse(const char *text, struct kw_audit_verifier *v)
{
	if (kw_audit_verifier_decode(text, v) != 0)
		return fail_line("audit: that is not a valid verifier key "
		                 "(keyward/audit/<node>+<8 hex digits>+<base64>)");
	return CLI_EXIT_OK;
}

/*
 * The verifier key from -key or -key-file, else the server's (with its
 * newest checkpoint added to ns), saying so: trusting the server's key
 * proves the log consistent, not that the server is honest.
 */
static int verifier_load(struct kw_client *c, const struct cli_args *a, const char *what,
                         struct kw_audit_verifier *v, struct notes *ns)
{
	const char *key = NULL, *note = NULL;
	struct kw_buf b;
	json_t *d = NULL;
	char *copy;
	int rc;

	if (a->verifier != NULL)
		return verifier_parse(a->verifier, v);
	if (a->key_file != NULL) {
		kw_buf_init(&b);
		if (cli_read_text("audit key", a->key_file, &b) != 0)
			return CLI_EXIT_FAIL;
		rc = verifier_parse((const char *)b.data, v);
		kw_buf_cleanup(&b);
		return rc;
	}
	if (kw_client_audit_checkpoint(c, &d) != 0)
		return cli_fail(c, "%s: fetching the verifier key and checkpoint", what);
	if (kw_client_json_string(d, "verifier_key", &key) != 0 ||
	    kw_client_json_string(d, "checkpoint", &note) != 0) {
		kw_client_json_free(d);
		return fail_line("%s: the server's checkpoint reply is incomplete", what);
	}
	fprintf(stderr,
	        "keyward: %s: no -key given: using the verifier key and the newest checkpoint "
	        "the server sent; pass -key to check against a key you trust\n",
	        what);
	rc = verifier_parse(key, v);
	if (rc == CLI_EXIT_OK && (copy = strdup(note)) == NULL)
		rc = fail_line("out of memory");
	if (rc == CLI_EXIT_OK && notes_add(ns, copy, "the server's newest checkpoint") != 0)
		rc = fail_line("too many checkpoints");
	kw_client_json_free(d);
	return rc;
}

/* ---- verify ---- */

struct progress {
	bool on;
	int shown; /* percent last drawn, -1 for none */
};

static void progress_draw(void *ctx, uint64_t done, uint64_t total)
{
	static const char hashes[BAR_WIDTH + 1] = "########################################";
	struct progress *p = ctx;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (!p->on || pct == p->shown)
		return;
	p->shown = pct;
	fprintf(stderr, "\rverifying [%-*.*s] %3d%%", BAR_WIDTH, pct * BAR_WIDTH / 100, hashes,
	        pct);
	fflush(stderr);
}

static void progress_end(struct progress *p)
{
	if (p->on && p->shown >= 0)
		fprintf(stderr, "\r\033[K");
}

/* The server's whole log, page by page, through the streaming verifier. */
static int verify_remote(struct kw_client *c, struct kw_audit_check *chk, struct progress *pr)
{
	uint64_t size = 0, next = 0;
	bool sized = false;
	int rc = 0;

	while (rc == 0 && (!sized || next < size)) {
		json_t *d = NULL, *arr, *item;
		size_t i;

		if (kw_client_audit_entries(c, next, 0, &d) != 0)
			return cli_fail(c, "audit verify: fetching entries from %" PRIu64, next);
		arr = json_object_get(d, "entries");
		if ((!sized && jindex(d, "tree_size", &size) != 0) || !json_is_array(arr) ||
		    (json_array_size(arr) == 0 && next < size)) {
			kw_client_json_free(d);
			return fail_line("audit verify: the server's entries reply is malformed");
		}
		sized = true;
		json_array_foreach(arr, i, item)
		{
			uint8_t *leaf = NULL;
			uint64_t index;
			size_t len;

			if (next >= size)
				break;
			if (entry_leaf(item, &index, &leaf, &len) != 0) {
				kw_client_json_free(d);
				return fail_line("audit verify: entry %" PRIu64 " is malformed",
				                 next);
			}
			rc = kw_audit_check_leaf(chk, leaf, len);
			free(leaf);
			next++;
			if (rc != 0)
				break;
		}
		kw_client_json_free(d);
		progress_draw(pr, next, size);
	}
	return rc == KW_ERR_INTEGRITY || rc == 0 ? 0
	                                         : fail_line("audit verify: %s", kw_err_str(rc));
}

static int verify_print(const struct kw_audit_check_result *r, const struct notes *ns)
{
	uint64_t bad = r->bad_index != UINT64_MAX ? r->bad_index : r->verified_size;

	if (!r->ok) {
		const char *which = r->bad_checkpoint >= 0 && (size_t)r->bad_checkpoint < ns->n
		                        ? ns->label[r->bad_checkpoint]
		                        : NULL;

		cli_printf("FAIL at index %" PRIu64 ": ", bad);
		cli_print_text(r->reason, false);
		if (which != NULL)
			cli_printf(" (checkpoint %d is %s)", r->bad_checkpoint, which);
		cli_printf("\n");
		return CLI_EXIT_FAIL;
	}
	if (cli_printf("ok: %" PRIu64 " entries, verified up to checkpoint size %" PRIu64 "\n",
	               r->entries, r->verified_size) != 0)
		return CLI_EXIT_FAIL;
	if (r->entries > r->verified_size)
		fprintf(stderr,
		        "keyward: audit verify: entries %" PRIu64 " to %" PRIu64
		        " are well-formed but no checkpoint covers them yet\n",
		        r->verified_size, r->entries - 1);
	if (r->torn_bytes > 0)
		fprintf(stderr,
		        "keyward: audit verify: %" PRIu64
		        " bytes of an unfinished record follow the last entry (a crash mid-write; "
		        "the keeper cuts them on its next start)\n",
		        r->torn_bytes);
	return CLI_EXIT_OK;
}

static int verify_dir(const struct cli_args *a, const struct kw_audit_verifier *v, struct notes *ns,
                      struct progress *pr, struct kw_audit_check_result *res)
{
	char *stored = NULL;
	int r;

	r = kw_audit_checkpoint_latest(a->dir, &stored);
	if (r == 0 && notes_add(ns, stored, "the newest checkpoint stored in %s", a->dir) != 0)
		return fail_line("too many checkpoints");
	if (r != 0 && r != KW_ERR_NOT_FOUND)
		return fail_line("audit verify: %s: reading its checkpoints: %s", a->dir,
		                 kw_err_str(r));
	if (ns->n == 0)
		return fail_line("audit verify: %s holds no checkpoint and none was given: nothing "
		                 "vouches for its entries",
		                 a->dir);
	r = kw_audit_verify_dir(a->dir, v, NULL, (const char *const *)ns->text, ns->n,
	                        progress_draw, pr, res);
	if (r != 0 && r != KW_ERR_INTEGRITY)
		return fail_line("audit verify: %s: %s", a->dir, kw_err_str(r));
	return CLI_EXIT_OK;
}

static int verify_server(struct kw_client *c, const struct kw_audit_verifier *v, struct notes *ns,
                         struct progress *pr, struct kw_audit_check_result *res)
{
	struct kw_audit_check *chk = NULL;
	int rc;

	if (kw_audit_check_new(v, NULL, &chk) != 0)
		return fail_line("out of memory");
	for (size_t i = 0; i < ns->n; i++) {
		rc = kw_audit_check_checkpoint(chk, ns->text[i], strlen(ns->text[i]));
		if (rc == KW_ERR_INTEGRITY)
			break; /* recorded in the result */
		if (rc != 0) {
			kw_audit_check_free(chk);
			return fail_line("audit verify: %s", kw_err_str(rc));
		}
	}
	rc = verify_remote(c, chk, pr);
	(void)kw_audit_check_finish(chk, res);
	kw_audit_check_free(chk);
	return rc;
}

int cli_audit_verify(struct kw_client *c, const struct cli_args *a)
{
	struct progress pr = {.on = isatty(STDERR_FILENO) == 1, .shown = -1};
	struct kw_audit_check_result res;
	struct kw_audit_verifier v;
	struct notes ns = {.n = 0};
	int rc;

	if ((rc = verifier_load(c, a, "audit verify", &v, &ns)) != CLI_EXIT_OK ||
	    (rc = notes_files(a, &ns)) != CLI_EXIT_OK)
		goto out;
	/* Without -dir the server's log is checked, against its newest
	 * checkpoint at least. */
	if (a->dir == NULL && (a->verifier != NULL || a->key_file != NULL) &&
	    (rc = server_note(c, "audit verify", &ns)) != CLI_EXIT_OK)
		goto out;
	if (a->dir != NULL)
		rc = verify_dir(a, &v, &ns, &pr, &res);
	else
		rc = verify_server(c, &v, &ns, &pr, &res);
	progress_end(&pr);
	if (rc == CLI_EXIT_OK)
		rc = verify_print(&res, &ns);
out:
	notes_cleanup(&ns);
	return rc;
}

/* ---- search ---- */

/* "addr:port", "[v6 addr]:port". */
static void source_text(const json_t *e, char *buf, size_t len)
{
	const char *addr = jtext(e, "source_addr");

	snprintf(buf, len, strchr(addr, ':') ? "[%s]:%lld" : "%s:%lld", *addr ? addr : "-",
	         jnum(e, "listener_port"));
}

/* One line per entry: index time operation path vN result identity source
 * request. */
static int entry_line(const json_t *item)
{
	const json_t *e = json_object_get(item, "entry");
	char idx[24], ver[24], src[KW_AUDIT_TEXT_MAX + 32];
	struct kw_buf b;

	kw_buf_init(&b);
	snprintf(idx, sizeof(idx), "%lld", jnum(item, "index"));
	if (!json_is_object(e))
		return buf_flush(&b,
		                 buf_pairs(&b, "", idx, "  (entry does not decode)\n", NULL, NULL));
	snprintf(ver, sizeof(ver), "v%lld", jnum(e, "key_version"));
	source_text(e, src, sizeof(src));
	return buf_flush(&b,
	                 buf_pairs(&b, "", idx, "  ", jtext(e, "time"), "  ", jtext(e, "operation"),
	                           "  ", jtext(e, "path"), "  ", ver, "  ", jtext(e, "result_code"),
	                           "  ", jtext(e, "auth_method"), ":", jtext(e, "subject"),
	                           "  accessor=", jtext(e, "accessor"), "  from=", src,
	                           "  request=", jtext(e, "request_id"), "\n", NULL, NULL));
}

static int dump_append(const char *p, size_t n, void *userp)
{
	return kw_buf_append(userp, p, n) == 0 ? 0 : -1;
}

/* One compact JSON object per line, for jq and log shippers. */
static int entry_json_line(const json_t *item)
{
	struct kw_buf b;
	int r = KW_ERR_NOMEM;

	kw_buf_init(&b);
	if (json_dump_callback(item, dump_append, &b, JSON_COMPACT | JSON_SORT_KEYS) == 0)
		r = kw_buf_append_u8(&b, '\n');
	return buf_flush(&b, r);
}

/* Called for each match below the size the search started at. */
typedef int (*match_fn)(void *ctx, const json_t *item);

/* Every match of q in [0, size), following cursors. */
static int search_all(struct kw_client *c, const char *what, const struct kw_client_audit_query *q,
                      uint64_t size, match_fn fn, void *ctx)
{
	uint64_t cursor = 0, next;

	while (cursor < size) {
		json_t *d = NULL, *arr, *item;
		size_t i;
		int r = 0;

		if (kw_client_audit_search(c, q, cursor, SEARCH_PAGE, &d) != 0)
			return cli_fail(c, "%s: searching from entry %" PRIu64, what, cursor);
		arr = json_object_get(d, "entries");
		if (!json_is_array(arr) || jindex(d, "next_cursor", &next) != 0) {
			kw_client_json_free(d);
			return fail_line("%s: the server's search reply is malformed", what);
		}
		json_array_foreach(arr, i, item)
		{
			uint64_t index;

			if (jindex(item, "index", &index) != 0 || index < cursor) {
				r = fail_line("%s: the server's search reply is malformed", what);
				break;
			}
			if (index < size && (r = fn(ctx, item)) != 0)
				break;
		}
		kw_client_json_free(d);
		if (r != 0)
			return CLI_EXIT_FAIL;
		/* A cursor that does not move would loop for ever. */
		if (next <= cursor)
			return fail_line("%s: the server's search cursor did not advance", what);
		cursor = next;
	}
	return CLI_EXIT_OK;
}

static int search_print(void *ctx, const json_t *item)
{
	const struct cli_args *a = ctx;
	int r = a->format == CLI_FORMAT_JSON ? entry_json_line(item) : entry_line(item);

	return r == 0 ? 0 : CLI_EXIT_FAIL;
}

int cli_audit_search(struct kw_client *c, const struct cli_args *a)
{
	struct kw_client_audit_query q = {
	    .key = a->key_name,
	    .identity = a->identity,
	    .operation = a->operation,
	    .since_us = a->since_us,
	    .until_us = a->until_us,
	};
	uint64_t size;
	int rc;

	if ((rc = log_size(c, "audit search", &size)) != CLI_EXIT_OK)
		return rc;
	return search_all(c, "audit search", &q, size, search_print, (void *)a);
}

/* ---- prove ---- */

struct root {
	uint64_t size;
	uint8_t hash[KW_AUDIT_HASH_BYTES];
	char label[LABEL_MAX];
};

struct anchor {
	struct kw_audit_verifier v;
	struct root roots[NOTES_MAX]; /* roots[0]: the server's newest */
	size_t n;
};

/* Open every note with the key; the first is the anchor. */
static int anchor_load(struct kw_client *c, const struct cli_args *a, struct anchor *an)
{
	struct notes ns = {.n = 0};
	int rc;

	if ((rc = verifier_load(c, a, "audit prove", &an->v, &ns)) != CLI_EXIT_OK)
		goto out;
	/* With -key the server's newest checkpoint is still the anchor. */
	if (ns.n == 0 && (rc = server_note(c, "audit prove", &ns)) != CLI_EXIT_OK)
		goto out;
	if ((rc = notes_files(a, &ns)) != CLI_EXIT_OK)
		goto out;
	for (size_t i = 0; i < ns.n; i++) {
		struct kw_audit_checkpoint cp;
		struct root *rt = &an->roots[an->n];

		if (kw_audit_checkpoint_open(ns.text[i], strlen(ns.text[i]), &an->v, &cp) != 0 ||
		    strcmp(cp.origin, an->v.name) != 0) {
			rc = fail_line("audit prove: %s does not verify with the key of %s",
			               ns.label[i], an->v.name);
			goto out;
		}
		rt->size = cp.size;
		memcpy(rt->hash, cp.root, sizeof(rt->hash));
		snprintf(rt->label, sizeof(rt->label), "%s", ns.label[i]);
		an->n++;
	}
out:
	notes_cleanup(&ns);
	return rc;
}

static const struct root *root_find(const struct anchor *an, uint64_t size)
{
	for (size_t i = 0; i < an->n; i++)
		if (an->roots[i].size == size)
			return &an->roots[i];
	return NULL;
}

static int proof_fetch(json_t *d, struct kw_audit_proof *p)
{
	const json_t *arr = json_object_get(d, "hashes"), *h;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) > KW_AUDIT_PROOF_MAX)
		return KW_ERR_INVALID;
	p->count = 0;
	json_array_foreach(arr, i, h)
	{
		const char *s = json_string_value(h);
		uint8_t *raw = NULL;
		size_t n = 0;

		if (s == NULL || kw_base64_decode(s, strlen(s), &raw, &n) != 0 ||
		    n != KW_AUDIT_HASH_BYTES) {
			free(raw);
			return KW_ERR_INVALID;
		}
		memcpy(p->hash[p->count++], raw, n);
		free(raw);
	}
	return 0;
}

/* Ask for a consistency proof and check it between two known roots. */
static int consistency_check(struct kw_client *c, const struct root *old, const struct root *new,
                             struct kw_audit_proof *p, bool *ok)
{
	json_t *d = NULL;
	int r;

	/* The empty tree is a prefix of every tree: the proof is empty
	 * (RFC 9162 2.1.4), and the server is not asked for it. */
	if (old->size == 0) {
		p->count = 0;
		*ok = kw_audit_verify_consistency(0, new->size, p, old->hash, new->hash) == 0;
		return CLI_EXIT_OK;
	}
	if (kw_client_audit_consistency(c, old->size, new->size, &d) != 0)
		return cli_fail(
		    c, "audit prove: fetching the consistency proof %" PRIu64 " -> %" PRIu64,
		    old->size, new->size);
	r = proof_fetch(d, p);
	kw_client_json_free(d);
	if (r != 0)
		return fail_line("audit prove: the server's proof is malformed");
	*ok = kw_audit_verify_consistency(old->size, new->size, p, old->hash, new->hash) == 0;
	return CLI_EXIT_OK;
}

/*
 * The root of a size no checkpoint has: recomputed from its entries, then
 * tied to the newest checkpoint by a consistency proof, so a server that
 * served other entries than it signed is caught.
 */
static int root_compute(struct kw_client *c, struct anchor *an, uint64_t size)
{
	const struct root *top = &an->roots[0];
	struct kw_audit_frontier fr;
	struct kw_audit_proof p;
	struct root *rt;
	bool ok = false;
	int rc;

	if (size > top->size)
		return fail_line("audit prove: tree size %" PRIu64
		                 " is beyond the newest checkpoint (%" PRIu64
		                 "); try again in a second",
		                 size, top->size);
	if (an->n == NOTES_MAX)
		return fail_line("too many checkpoints");
	kw_audit_frontier_init(&fr);
	while (fr.size < size) {
		json_t *d = NULL, *arr, *item;
		size_t i;

		if (kw_client_audit_entries(c, fr.size, size, &d) != 0)
			return cli_fail(c, "audit prove: fetching entries from %" PRIu64, fr.size);
		arr = json_object_get(d, "entries");
		rc = json_array_size(arr) == 0 ? KW_ERR_INVALID : 0;
		json_array_foreach(arr, i, item)
		{
			uint8_t hash[KW_AUDIT_HASH_BYTES], *leaf = NULL;
			uint64_t index;
			size_t len;

			if (fr.size == size)
				break;
			rc = entry_leaf(item, &index, &leaf, &len);
			if (rc == 0 && index != fr.size)
				rc = KW_ERR_INVALID;
			if (rc == 0)
				rc = kw_audit_leaf_hash(leaf, len, hash);
			if (rc == 0)
				rc = kw_audit_frontier_append(&fr, hash);
			free(leaf);
			if (rc != 0)
				break;
		}
		kw_client_json_free(d);
		if (rc != 0)
			return fail_line("audit prove: the server's entries reply is malformed");
	}
	rt = &an->roots[an->n];
	rt->size = size;
	if (kw_audit_frontier_root(&fr, rt->hash) != 0)
		return fail_line("audit prove: cannot compute the root");
	snprintf(rt->label, sizeof(rt->label), "recomputed from the first %" PRIu64 " entries",
	         size);
	if (size < top->size && (rc = consistency_check(c, rt, top, &p, &ok)) != CLI_EXIT_OK)
		return rc;
	if (size < top->size && !ok)
		return fail_line("audit prove: the entries the server sent are not those of its "
		                 "signed checkpoint (size %" PRIu64 "): the log was rewritten",
		                 top->size);
	an->n++;
	return CLI_EXIT_OK;
}

/* The root of size, known or computed. */
static int root_get(struct kw_client *c, struct anchor *an, uint64_t size, const struct root **out)
{
	static struct root empty = {.size = 0, .label = "the empty tree"};
	int rc;

	if (size == 0) {
		kw_audit_empty_root(empty.hash);
		*out = &empty;
		return CLI_EXIT_OK;
	}
	if ((*out = root_find(an, size)) != NULL)
		return CLI_EXIT_OK;
	if ((rc = root_compute(c, an, size)) != CLI_EXIT_OK)
		return rc;
	*out = &an->roots[an->n - 1];
	return CLI_EXIT_OK;
}

static int proof_print_text(struct kw_buf *b, const struct kw_audit_proof *p, bool ok)
{
	char h[64];
	int r = buf_printf(b, "hashes:    %zu\n", p->count);

	for (size_t i = 0; i < p->count && r == 0; i++) {
		b64_text(p->hash[i], KW_AUDIT_HASH_BYTES, h, sizeof(h));
		r = buf_printf(b, "  %s\n", h);
	}
	if (r == 0)
		r = kw_buf_append_str(b, ok ? "proof ok\n" : "proof FAILED\n");
	return r;
}

static int root_line(struct kw_buf *b, const char *name, const struct root *rt)
{
	char h[64];

	b64_text(rt->hash, sizeof(rt->hash), h, sizeof(h));
	return buf_printf(b, "%-10s %s (size %" PRIu64 ", %s)\n", name, h, rt->size, rt->label);
}

static json_t *hashes_json(const struct kw_audit_proof *p)
{
	json_t *arr = json_array();
	char h[64];

	for (size_t i = 0; arr != NULL && i < p->count; i++) {
		b64_text(p->hash[i], KW_AUDIT_HASH_BYTES, h, sizeof(h));
		if (json_array_append_new(arr, json_string(h)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int root_json(json_t *o, const char *key, const uint8_t *hash)
{
	char h[64];

	b64_text(hash, KW_AUDIT_HASH_BYTES, h, sizeof(h));
	return json_object_set_new(o, key, json_string(h)) == 0 ? 0 : KW_ERR_NOMEM;
}

/* The proof as JSON: o (stolen) gets the hashes and the verdict. */
static int proof_json_print(json_t *o, const struct kw_audit_proof *p, bool ok)
{
	int r = KW_ERR_NOMEM;

	if (o != NULL && json_object_set_new(o, "hashes", hashes_json(p)) == 0 &&
	    json_object_set_new(o, "ok", json_boolean(ok)) == 0)
		r = cli_print_json(o);
	json_decref(o);
	return r;
}

static int inclusion_json(uint64_t index, const struct root *rt, const json_t *entry,
                          const uint8_t *leaf_hash, const struct kw_audit_proof *p, bool ok)
{
	json_t *o =
	    json_pack("{s:s, s:I, s:I, s:O?}", "type", "inclusion", "index", (json_int_t)index,
	              "tree_size", (json_int_t)rt->size, "entry", (json_t *)entry);

	if (o != NULL &&
	    (root_json(o, "leaf_hash", leaf_hash) != 0 || root_json(o, "root", rt->hash) != 0)) {
		json_decref(o);
		o = NULL;
	}
	return proof_json_print(o, p, ok);
}

static int consistency_json(const struct root *r1, const struct root *r2,
                            const struct kw_audit_proof *p, bool ok)
{
	json_t *o = json_pack("{s:s, s:I, s:I}", "type", "consistency", "first",
	                      (json_int_t)r1->size, "second", (json_int_t)r2->size);

	if (o != NULL && (root_json(o, "first_root", r1->hash) != 0 ||
	                  root_json(o, "second_root", r2->hash) != 0)) {
		json_decref(o);
		o = NULL;
	}
	return proof_json_print(o, p, ok);
}

static int prove_inclusion(struct kw_client *c, const struct cli_args *a, struct anchor *an)
{
	uint64_t size = a->set & CLI_FLAG(CLI_F_TREE_SIZE) ? a->tree_size : an->roots[0].size;
	uint8_t hash[KW_AUDIT_HASH_BYTES], *leaf = NULL;
	json_t *d = NULL, *pd = NULL, *item;
	const struct root *rt = NULL;
	struct kw_audit_proof p;
	struct kw_buf b;
	uint64_t index;
	size_t len;
	bool ok;
	int rc;

	kw_buf_init(&b);
	if (a->index >= size) {
		rc = fail_line("audit prove: entry %" PRIu64 " is not covered by the checkpoint "
		               "(size %" PRIu64 ") yet; try again in a second",
		               a->index, size);
		goto out;
	}
	if ((rc = root_get(c, an, size, &rt)) != CLI_EXIT_OK)
		goto out;
	rc = CLI_EXIT_FAIL;
	if (kw_client_audit_entries(c, a->index, a->index + 1, &d) != 0) {
		rc = cli_fail(c, "audit prove: fetching entry %" PRIu64, a->index);
		goto out;
	}
	item = json_array_get(json_object_get(d, "entries"), 0);
	if (entry_leaf(item, &index, &leaf, &len) != 0 || index != a->index ||
	    kw_audit_leaf_hash(leaf, len, hash) != 0) {
		fail_line("audit prove: the server's entry %" PRIu64 " is malformed", a->index);
		goto out;
	}
	if (kw_client_audit_inclusion(c, a->index, size, &pd) != 0) {
		rc = cli_fail(c, "audit prove: fetching the inclusion proof");
		goto out;
	}
	if (proof_fetch(pd, &p) != 0) {
		fail_line("audit prove: the server's proof is malformed");
		goto out;
	}
	ok = kw_audit_verify_inclusion(a->index, size, hash, &p, rt->hash) == 0;
	if (a->format == CLI_FORMAT_JSON) {
		rc = inclusion_json(a->index, rt, json_object_get(item, "entry"), hash, &p, ok);
	} else {
		char h[64];
		int r;

		b64_text(hash, sizeof(hash), h, sizeof(h));
		r = buf_printf(
		    &b, "inclusion proof: entry %" PRIu64 " in the tree of %" PRIu64 " entries\n",
		    a->index, size);
		if (r == 0)
			r = buf_printf(&b, "%-10s %s\n", "leaf hash:", h);
		if (r == 0)
			r = root_line(&b, "root:", rt);
		if (r == 0)
			r = proof_print_text(&b, &p, ok);
		rc = buf_flush(&b, r);
	}
	rc = rc == 0 && ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	kw_buf_cleanup(&b);
	free(leaf);
	kw_client_json_free(d);
	kw_client_json_free(pd);
	return rc;
}

static int prove_consistency(struct kw_client *c, const struct cli_args *a, struct anchor *an)
{
	const struct root *r1 = NULL, *r2 = NULL;
	struct kw_audit_proof p;
	struct kw_buf b;
	bool ok = false;
	int rc;

	if ((rc = root_get(c, an, a->second, &r2)) != CLI_EXIT_OK ||
	    (rc = root_get(c, an, a->first, &r1)) != CLI_EXIT_OK)
		return rc;
	/* Pointers into an->roots stay valid: the table never moves. */
	if ((rc = consistency_check(c, r1, r2, &p, &ok)) != CLI_EXIT_OK)
		return rc;
	if (a->format == CLI_FORMAT_JSON) {
		rc = consistency_json(r1, r2, &p, ok);
	} else {
		int r;

		kw_buf_init(&b);
		r = buf_printf(&b,
		               "consistency proof: the tree of %" PRIu64
		               " entries is a prefix of the tree of %" PRIu64 "\n",
		               a->first, a->second);
		if (r == 0)
			r = root_line(&b, "old root:", r1);
		if (r == 0)
			r = root_line(&b, "new root:", r2);
		if (r == 0)
			r = proof_print_text(&b, &p, ok);
		rc = buf_flush(&b, r);
	}
	return rc == 0 && ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_audit_prove(struct kw_client *c, const struct cli_args *a)
{
	struct anchor an;
	int rc;

	memset(&an, 0, sizeof(an));
	if ((rc = anchor_load(c, a, &an)) != CLI_EXIT_OK)
		return rc;
	if (a->set & CLI_FLAG(CLI_F_INDEX))
		return prove_inclusion(c, a, &an);
	return prove_consistency(c, a, &an);
}

/* ---- report ---- */

/* What the compromise-window report lists: every use of the key, the
 * PKCS#11 operations (raw RSA, ECDH, AES modes, wrapping) included. */
static const char *const report_ops[] = {
    "sign",         "verify",      "encrypt",    "decrypt",    "rewrap",   "datakey",   "hmac",
    "p11-sign-raw", "p11-decrypt", "p11-derive", "p11-cipher", "p11-wrap", "p11-unwrap"};

struct report {
	const struct cli_args *a;
	json_t *uses; /* the decoded entries, in log order */
};

static bool report_op(const char *op)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(report_ops); i++)
		if (strcmp(op, report_ops[i]) == 0)
			return true;
	return false;
}

static int report_collect(void *ctx, const json_t *item)
{
	struct report *rp = ctx;
	json_t *e = json_object_get(item, "entry");

	/* The server filtered by key and time; the operation is ours to pick,
	 * and a key-name check costs nothing. */
	if (!json_is_object(e) || !report_op(jtext(e, "operation")) ||
	    strcmp(jtext(e, "key_name"), rp->a->key_name) != 0)
		return 0;
	return json_array_append(rp->uses, e) == 0 ? 0 : fail_line("out of memory");
}

static int report_summary(struct kw_buf *b, const json_t *uses)
{
	const char *sep = " (";
	size_t failed = 0, i;
	const json_t *e;
	int r;

	r = buf_printf(b, "%zu use%s", json_array_size(uses),
	               json_array_size(uses) == 1 ? "" : "s");
	for (size_t k = 0; k < KW_ARRAY_LEN(report_ops) && r == 0; k++) {
		size_t n = 0;

		json_array_foreach(uses, i, e) n +=
		    strcmp(jtext(e, "operation"), report_ops[k]) == 0;
		if (n > 0)
			r = buf_printf(b, "%s%s %zu", sep, report_ops[k], n);
		if (n > 0)
			sep = ", ";
	}
	if (r == 0 && json_array_size(uses) > 0)
		r = kw_buf_append_str(b, ")");
	json_array_foreach(uses, i, e) failed += jnum(e, "result") != 0;
	if (r == 0 && failed > 0)
		r = buf_printf(b, "; %zu refused or failed", failed);
	if (r == 0)
		r = kw_buf_append_str(b, "\n");
	return r;
}

static int report_text_one(struct kw_buf *b, const json_t *e)
{
	char idx[24], ver[24], src[KW_AUDIT_TEXT_MAX + 32];

	snprintf(idx, sizeof(idx), "%lld", jnum(e, "index"));
	snprintf(ver, sizeof(ver), "%lld", jnum(e, "key_version"));
	source_text(e, src, sizeof(src));
	return buf_pairs(
	    b, "\n", jtext(e, "time"), "  ", jtext(e, "operation"), "  ", jtext(e, "result_code"),
	    "\n  method:    ", jtext(e, "auth_method"), "\n  subject:   ", jtext(e, "subject"),
	    "\n  accessor:  ", jtext(e, "accessor"), "\n  source:    ", src, "\n  version:   ", ver,
	    "\n  input:     ", jtext(e, "input_sha256"),
	    "\n  output:    ", jtext(e, "output_sha256"), "\n  request:   ", jtext(e, "request_id"),
	    "\n  entry:     ", idx, "\n", NULL, NULL);
}

static int report_text(const struct report *rp, uint64_t size)
{
	char from[TIME_TEXT_MAX], to[TIME_TEXT_MAX];
	const json_t *e;
	struct kw_buf b;
	size_t i;
	int r;

	kw_client_audit_time_format(rp->a->from_us, from, sizeof(from));
	kw_client_audit_time_format(rp->a->to_us, to, sizeof(to));
	kw_buf_init(&b);
	r = kw_buf_append_str(&b, "Key ");
	if (r == 0)
		r = buf_text(&b, rp->a->key_name);
	if (r == 0)
		r = buf_printf(&b,
		               ": every use from %s to %s\n(the log's first %" PRIu64
		               " entries searched; ",
		               from, to, size);
	if (r == 0)
		r = buf_printf(&b,
		               "operations: sign verify encrypt decrypt rewrap datakey hmac)\n");
	if (r == 0)
		r = report_summary(&b, rp->uses);
	json_array_foreach(rp->uses, i, e) if (r == 0) r = report_text_one(&b, e);
	return buf_flush(&b, r);
}

/* RFC 4180 field. A leading = + - @ tab or CR is prefixed with ' so a
 * spreadsheet shows a subject such as "=HYPERLINK(...)" instead of running
 * it (CSV injection): the report is opened by people under stress. */
static int csv_field(struct kw_buf *b, const char *s, bool last)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL || (*s != '\0' && strchr("=+-@\t\r", *s));
	int r = quote ? kw_buf_append_u8(b, '"') : 0;

	if (r == 0 && *s != '\0' && strchr("=+-@\t\r", *s))
		r = kw_buf_append_u8(b, '\'');
	for (; *s != '\0' && r == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"')
			r = kw_buf_append_str(b, "\"\"");
		else
			r = kw_buf_append_u8(b, ch < 0x20 && ch != '\t' ? '?' : ch);
	}
	if (r == 0 && quote)
		r = kw_buf_append_u8(b, '"');
	if (r == 0)
		r = kw_buf_append_str(b, last ? "\r\n" : ",");
	return r;
}

static int report_csv(const struct report *rp)
{
	static const char *const cols[] = {
	    "time",         "operation",     "key",        "key_version", "result",
	    "auth_method",  "subject",       "accessor",   "source_addr", "listener_port",
	    "input_sha256", "output_sha256", "request_id", "index"};
	const json_t *e;
	struct kw_buf b;
	size_t i;
	int r = 0;

	kw_buf_init(&b);
	for (size_t k = 0; k < KW_ARRAY_LEN(cols) && r == 0; k++)
		r = csv_field(&b, cols[k], k + 1 == KW_ARRAY_LEN(cols));
	json_array_foreach(rp->uses, i, e)
	{
		char ver[24], port[24], idx[24];

		snprintf(ver, sizeof(ver), "%lld", jnum(e, "key_version"));
		snprintf(port, sizeof(port), "%lld", jnum(e, "listener_port"));
		snprintf(idx, sizeof(idx), "%lld", jnum(e, "index"));
		if (r == 0)
			r = csv_field(&b, jtext(e, "time"), false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "operation"), false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "key_name"), false);
		if (r == 0)
			r = csv_field(&b, ver, false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "result_code"), false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "auth_method"), false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "subject"), false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "accessor"), false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "source_addr"), false);
		if (r == 0)
			r = csv_field(&b, port, false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "input_sha256"), false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "output_sha256"), false);
		if (r == 0)
			r = csv_field(&b, jtext(e, "request_id"), false);
		if (r == 0)
			r = csv_field(&b, idx, true);
	}
	return buf_flush(&b, r);
}

static int report_json(const struct report *rp, uint64_t size)
{
	char from[TIME_TEXT_MAX], to[TIME_TEXT_MAX];
	json_t *o;
	int r;

	kw_client_audit_time_format(rp->a->from_us, from, sizeof(from));
	kw_client_audit_time_format(rp->a->to_us, to, sizeof(to));
	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:O}", "key", rp->a->key_name, "from", from, "to",
	              to, "entries_searched", (json_int_t)size, "count",
	              (json_int_t)json_array_size(rp->uses), "uses", rp->uses);
	r = o ? cli_print_json(o) : KW_ERR_NOMEM;
	json_decref(o);
	return r;
}

int cli_audit_report(struct kw_client *c, const struct cli_args *a)
{
	struct kw_client_audit_query q = {
	    .key = a->key_name, .since_us = a->from_us, .until_us = a->to_us};
	struct report rp = {.a = a, .uses = json_array()};
	uint64_t size;
	int rc;

	if (rp.uses == NULL)
		return fail_line("out of memory");
	if ((rc = log_size(c, "audit report", &size)) != CLI_EXIT_OK ||
	    (rc = search_all(c, "audit report", &q, size, report_collect, &rp)) != CLI_EXIT_OK)
		goto out;
	if (a->format == CLI_FORMAT_JSON)
		rc = report_json(&rp, size);
	else if (a->format == CLI_FORMAT_CSV)
		rc = report_csv(&rp);
	else
		rc = report_text(&rp, size);
	rc = rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	json_decref(rp.uses);
	return rc;
}
