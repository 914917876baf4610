/*
 * metrics.c: the keeper's half of GET /v1/sys/metrics — requests answered,
 * by operation and result, and the audit log's counters, as Prometheus text
 * lines that the front sends on with its own. The keeper decides who may
 * read them (read on sys/metrics), as for any path; like every keeper
 * request that needs a token, only while unsealed (the seal state is
 * /v1/sys/health's, readable by anyone).
 *
 * Labels are message names and error codes only: no key name, identity or
 * token reaches a metric, so reading them tells nobody which keys exist.
 */
#include "keeper_int.h"

void keeper_metrics_count(struct keeper *k, uint16_t type, int status)
{
	unsigned result = status < 0 ? (unsigned)-status : 0;

	if (type < KEEPER_METRICS_TYPES && result < KEEPER_METRICS_RESULTS)
		__atomic_fetch_add(&k->answered[type][result], 1, __ATOMIC_RELAXED);
}

static int head(struct kw_buf *b, const char *name, const char *type, const char *help)
{
	return kw_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int one(struct kw_buf *b, const char *name, const char *type, const char *help,
               unsigned long long value)
{
	int s = head(b, name, type, help);

	return s != 0 ? s : kw_buf_appendf(b, "%s %llu\n", name, value);
}

static int requests_text(struct keeper *k, struct kw_buf *b)
{
	static const char name[] = "keyward_keeper_requests_total";
	int s = head(b, name, "counter",
	             "Requests the keeper answered, by operation and result (ok or the error "
	             "code).");

	for (unsigned t = 0; t < KEEPER_METRICS_TYPES && s == 0; t++) {
		const char *op = kw_msg_name((uint16_t)t);

		for (unsigned res = 0; op != NULL && res < KEEPER_METRICS_RESULTS && s == 0;
		     res++) {
			uint64_t n = __atomic_load_n(&k->answered[t][res], __ATOMIC_RELAXED);

			if (n > 0)
				s = kw_buf_appendf(b, "%s{operation=\"%s\",result=\"%s\"} %llu\n",
				                   name, op,
				                   res == 0 ? "ok" : kw_err_code(-(int)res),
				                   (unsigned long long)n);
		}
	}
	return s;
}

static int audit_text(struct keeper *k, struct kw_buf *b)
{
	struct kw_audit_head h = {0};
	bool writable = k->audit != NULL && kw_audit_log_head(k->audit, &h) == 0;
	int s;

	if ((s = one(b, "keyward_audit_entries", "gauge", "Entries in the audit log.", h.size)) !=
	        0 ||
	    (s = one(b, "keyward_audit_durable_entries", "gauge",
	             "Audit entries covered by a finished fdatasync.", h.durable)) != 0 ||
	    (s = one(b, "keyward_audit_fdatasyncs_total", "counter",
	             "Group-commit fdatasyncs of the audit log since start.", h.syncs)) != 0 ||
	    (s = one(b, "keyward_audit_writable", "gauge",
	             "1 while the audit log can be written; 0 once it failed (key operations "
	             "then fail with 503 under forced audit).",
	             writable)) != 0)
		return s;
	return one(b, "keyward_audit_forced", "gauge",
	           "1 if a reply waits for its audit entry to be durable.",
	           !k->conf->audit_unforced);
}

int keeper_answer_metrics(struct kreq *r)
{
	struct keeper *k = r->k;
	struct kw_buf b;
	int s;

	if ((s = keeper_authorize(r, "sys/metrics", CAP_READ)) != 0)
		return s;
	kw_buf_init(&b);
	if ((s = requests_text(k, &b)) == 0 && (s = audit_text(k, &b)) == 0 &&
	    (s = kw_buf_append_u8(&b, 0)) == 0)
		s = kw_ipc_put_str(r->reply, KW_T_METRICS_TEXT, (const char *)b.data);
	kw_buf_cleanup(&b);
	return s != 0 ? kreq_fail(r, KW_ERR_LIMIT, "the metrics do not fit in one reply") : 0;
}
