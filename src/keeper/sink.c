/*
 * sink.c: a streaming copy of the audit log for SIEMs — one JSON object per
 * line (the entry as the API renders it, index and time included) to a file
 * opened for appending, to stdout, or to syslog (facility auth, ident
 * "keyward-audit").
 *
 * Best effort by design: the signed Merkle log is the record, checked by
 * `keyward audit verify`; the sink is a convenience. A write that fails is
 * logged (once per failure streak) and the request goes on. Entries hold no
 * secret, so neither does the sink.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "keeper_int.h"

enum sink_kind { SINK_FD, SINK_SYSLOG };

struct keeper_sink {
	enum sink_kind kind;
	int fd;
	bool own_fd;
	bool failing; /* to log a failure streak once */
	pthread_mutex_t mu;
};

int keeper_sink_open(const char *where, struct keeper_sink **out)
{
	struct keeper_sink *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&s->mu, NULL);
	if (strcmp(where, "syslog") == 0) {
		s->kind = SINK_SYSLOG;
		openlog("keyward-audit", LOG_NDELAY | LOG_PID, LOG_AUTH);
	} else if (strcmp(where, "stdout") == 0) {
		s->kind = SINK_FD;
		s->fd = STDOUT_FILENO;
	} else {
		s->kind = SINK_FD;
		s->fd = open(where, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		s->own_fd = true;
		if (s->fd < 0) {
			kw_error("audit sink: cannot open %s: %s", where, strerror(errno));
			free(s);
			return KW_ERR_IO;
		}
	}
	*out = s;
	return 0;
}

static bool write_line(int fd, const char *line, size_t len)
{
	/* One write per line: with O_APPEND, lines from several threads never
	 * interleave. */
	ssize_t w;

	do
		w = write(fd, line, len);
	while (w < 0 && errno == EINTR);
	return w == (ssize_t)len;
}

void keeper_sink_write(struct keeper_sink *s, const struct kw_audit_entry *e)
{
	char *text = NULL;
	bool ok;

	if (kw_audit_entry_json_text(e, &text) != 0) {
		kw_warn("audit sink: entry %llu cannot be rendered", (unsigned long long)e->index);
		return;
	}
	if (s->kind == SINK_SYSLOG) {
		syslog(LOG_INFO, "%s", text);
		ok = true;
	} else {
		size_t n = strlen(text);
		char *line = realloc(text, n + 2);

		if (line == NULL) {
			free(text);
			return;
		}
		text = line;
		text[n] = '\n';
		text[n + 1] = '\0';
		ok = write_line(s->fd, text, n + 1);
	}
	pthread_mutex_lock(&s->mu);
	if (!ok && !s->failing)
		kw_warn("audit sink: write failed at entry %llu (%s); the audit log itself is "
		        "unaffected",
		        (unsigned long long)e->index, strerror(errno));
	if (ok && s->failing)
		kw_info("audit sink: writing again from entry %llu", (unsigned long long)e->index);
	s->failing = !ok;
	pthread_mutex_unlock(&s->mu);
	free(text);
}

void keeper_sink_close(struct keeper_sink *s)
{
	if (s == NULL)
		return;
	if (s->kind == SINK_SYSLOG)
		closelog();
	else if (s->own_fd)
		close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
