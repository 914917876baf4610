/*
 * log.c: one line per event on stderr. Callers never pass secrets; this file
 * cannot check that, so messages are built from names and ids only.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static enum kw_log_level log_level = KW_LOG_INFO;
static char log_proc[16] = "keyward";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void kw_log_set_level(enum kw_log_level level)
{
	log_level = level;
}

int kw_log_level_from_name(const char *name, enum kw_log_level *out)
{
	for (size_t i = 0; i < KW_ARRAY_LEN(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum kw_log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = KW_LOG_WARN;
		return 0;
	}
	return KW_ERR_CONFIG;
}

void kw_log_set_proc(const char *name)
{
	snprintf(log_proc, sizeof(log_proc), "%s", name);
}

__attribute__((format(printf, 2, 0))) static void log_line(enum kw_log_level level, const char *fmt,
                                                           va_list ap)
{
	char msg[1024];
	char when[32];
	struct timespec ts;
	struct tm tm;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ldZ %-5s [%s] %s\n", when, ts.tv_nsec / 1000000, level_names[level],
	        log_proc, msg);
	pthread_mutex_unlock(&log_lock);
}

void kw_log(enum kw_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level < log_level)
		return;
	va_start(ap, fmt);
	log_line(level, fmt, ap);
	va_end(ap);
}

void kw_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(KW_LOG_ERR, fmt, ap);
	va_end(ap);
	/* _exit: a broken invariant is no time to run atexit handlers. */
	_exit(1);
}
