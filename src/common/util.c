/* util.c: time and small string helpers. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

uint64_t kw_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t kw_now(void)
{
	return (int64_t)time(NULL);
}

uint64_t kw_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void kw_time_format(int64_t unix_seconds, char *buf, size_t buflen)
{
	time_t t = (time_t)unix_seconds;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, buflen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *kw_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int kw_strlcpy(char *dst, const char *src, size_t dstlen)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		return KW_ERR_LIMIT;
	memcpy(dst, src, n + 1);
	return 0;
}

int kw_duration_parse(const char *s, int64_t *seconds)
{
	int64_t total = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return KW_ERR_INVALID;
	/* A bare integer is seconds; otherwise a sequence like "1h30m10s". */
	while (*p != '\0') {
		char *end;
		long long v;
		int64_t unit;

		errno = 0;
		if (*p < '0' || *p > '9')
			return KW_ERR_INVALID;
		v = strtoll(p, &end, 10);
		if (errno != 0 || v < 0)
			return KW_ERR_INVALID;
		switch (*end) {
		case '\0':
			unit = 1;
			if (p != s)
				return KW_ERR_INVALID;
			break;
		case 's':
			unit = 1;
			end++;
			break;
		case 'm':
			unit = 60;
			end++;
			break;
		case 'h':
			unit = 3600;
			end++;
			break;
		case 'd':
			unit = 86400;
			end++;
			break;
		default:
			return KW_ERR_INVALID;
		}
		if (v > (INT64_MAX - total) / unit)
			return KW_ERR_INVALID;
		total += v * unit;
		p = end;
	}
	*seconds = total;
	return 0;
}
