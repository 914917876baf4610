/*
 * metrics.c: GET /v1/sys/metrics?format=prometheus, as Vault serves it.
 *
 * The front counts what only it sees — responses by HTTP status and how
 * long requests took, from their first byte to the end of the answer — and
 * asks the keeper for the rest (requests by operation and result, seal
 * state, the audit log's counters). The keeper also decides who may read
 * them: read on sys/metrics, like any path. Counters are process-wide (one
 * front per process) and atomic; the request path pays two increments.
 */
#include <string.h>

#include "front_int.h"

#define STATUS_MAX 600 /* HTTP status codes are 100..599 */

/* Upper bounds of the duration histogram, in microseconds. */
static const uint64_t bounds_us[] = {500,    1000,   2500,   5000,    10000,   25000,  50000,
                                     100000, 250000, 500000, 1000000, 2500000, 5000000};

static uint64_t by_status[STATUS_MAX];
static uint64_t in_bucket[KW_ARRAY_LEN(bounds_us) + 1]; /* the last: above every bound */
static uint64_t sum_us;

void kw_metrics_response(unsigned status)
{
	if (status < STATUS_MAX)
		__atomic_fetch_add(&by_status[status], 1, __ATOMIC_RELAXED);
}

void kw_metrics_duration(uint64_t us)
{
	size_t i = 0;

	while (i < KW_ARRAY_LEN(bounds_us) && us > bounds_us[i])
		i++;
	__atomic_fetch_add(&in_bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sum_us, us, __ATOMIC_RELAXED);
}

static int responses_text(struct kw_buf *b)
{
	static const char name[] = "keyward_http_responses_total";
	int s = kw_buf_appendf(b,
	                       "# HELP %s Responses the front sent, by HTTP status.\n"
	                       "# TYPE %s counter\n",
	                       name, name);

	for (unsigned code = 100; code < STATUS_MAX && s == 0; code++) {
		uint64_t n = __atomic_load_n(&by_status[code], __ATOMIC_RELAXED);

		if (n > 0)
			s = kw_buf_appendf(b, "%s{code=\"%u\"} %llu\n", name, code,
			                   (unsigned long long)n);
	}
	return s;
}

/* Prometheus buckets are cumulative: each counts every request at or
 * under its bound. The sum is read after the buckets, so a scrape may see
 * it a request ahead of them: harmless for a rate. */
static int durations_text(struct kw_buf *b)
{
	static const char name[] = "keyward_http_request_duration_seconds";
	uint64_t total = 0;
	int s = kw_buf_appendf(b,
	                       "# HELP %s Time from a request's first byte to the end of its "
	                       "answer.\n# TYPE %s histogram\n",
	                       name, name);

	for (size_t i = 0; i < KW_ARRAY_LEN(bounds_us) && s == 0; i++) {
		total += __atomic_load_n(&in_bucket[i], __ATOMIC_RELAXED);
		s = kw_buf_appendf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		                   (double)bounds_us[i] / 1e6, (unsigned long long)total);
	}
	total += __atomic_load_n(&in_bucket[KW_ARRAY_LEN(bounds_us)], __ATOMIC_RELAXED);
	if (s == 0)
		s = kw_buf_appendf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
		                   name, (unsigned long long)total, name,
		                   (double)__atomic_load_n(&sum_us, __ATOMIC_RELAXED) / 1e6, name,
		                   (unsigned long long)total);
	return s;
}

int kw_h_metrics(struct kw_req *r, struct kw_resp *out)
{
	const char *format = kw_req_query(r, "format");
	const char *keeper;
	struct kw_ipc_msg req, reply;
	struct kw_buf b;
	int err;

	if (format == NULL || strcmp(format, "prometheus") != 0)
		return kw_fail_set(&r->fail, KW_ERR_UNSUPPORTED,
		                   "keyward serves metrics as Prometheus text only: add "
		                   "?format=prometheus");
	kw_msg_zero(&req);
	kw_msg_zero(&reply);
	kw_buf_init(&b);
	if ((err = kw_req_msg(r, &req, KW_MSG_METRICS)) != 0 ||
	    (err = kw_req_call(r, &req, &reply)) != 0)
		goto out;
	if ((keeper = kw_ipc_str_or(&reply, KW_T_METRICS_TEXT, NULL)) == NULL) {
		err = kw_fail_set(&r->fail, KW_ERR_IPC, "the keeper sent no metrics");
		goto out;
	}
	if ((err = kw_buf_append_str(&b, keeper)) != 0 || (err = responses_text(&b)) != 0 ||
	    (err = durations_text(&b)) != 0)
		goto out;
	err = kw_resp_text(out, 200, "text/plain; version=0.0.4; charset=utf-8", (char *)b.data,
	                   b.len);
out:
	kw_buf_cleanup(&b);
	kw_ipc_msg_cleanup(&req);
	kw_ipc_msg_cleanup(&reply);
	return err;
}
