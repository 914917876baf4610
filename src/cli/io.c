/*
 * io.c: the CLI's inputs (files, stdin, a hidden terminal line) and outputs
 * (stdout through wiping buffers, one-line errors on stderr). Secrets pass
 * through here, so nothing uses stdio buffers for stdout or input.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

#define READ_CHUNK (64u * 1024)

/* --- errors ----------------------------------------------------------------- */

/* Messages quote argv and server text: keep them to one harmless line. */
static void line_sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

void cli_errorf(const char *fmt, ...)
{
	char line[CLI_ERR_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	line_sanitize(line);
	fprintf(stderr, "keyward: %s\n", line);
}

int cli_fail(const struct kw_client *c, const char *what_fmt, ...)
{
	const char *msg = kw_client_error(c), *code = kw_client_error_code(c);
	char what[CLI_ERR_MAX];
	va_list ap;

	va_start(ap, what_fmt);
	vsnprintf(what, sizeof(what), what_fmt, ap);
	va_end(ap);
	line_sanitize(what);
	fprintf(stderr, "keyward: %s: %s (%s)\n", what, *msg ? msg : "failed",
	        *code ? code : "unknown");
	return CLI_EXIT_FAIL;
}

/* --- inputs ----------------------------------------------------------------- */

static bool is_stdin(const char *path)
{
	return path == NULL || strcmp(path, "-") == 0;
}

static int read_all(int fd, const char *what, const char *name, struct kw_buf *out)
{
	for (;;) {
		size_t room;
		ssize_t n;

		if (kw_buf_reserve(out, READ_CHUNK) != 0) {
			cli_errorf("%s: out of memory reading %s", what, name);
			return KW_ERR_NOMEM;
		}
		/* Ask for one byte past the limit, to tell "exactly max" from "more". */
		room = out->cap - out->len;
		if (room > CLI_INPUT_MAX + 1 - out->len)
			room = CLI_INPUT_MAX + 1 - out->len;
		n = read(fd, out->data + out->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_errorf("%s: cannot read %s: %s", what, name, strerror(errno));
			return KW_ERR_IO;
		}
		if (n == 0)
			return 0;
		out->len += (size_t)n;
		if (out->len > CLI_INPUT_MAX) {
			cli_errorf("%s: %s is larger than %u MiB", what, name, CLI_INPUT_MAX >> 20);
			return KW_ERR_TOO_LARGE;
		}
	}
}

int cli_read_input(const char *what, const char *path, struct kw_buf *out)
{
	const char *name = is_stdin(path) ? "stdin" : path;
	int fd = 0, r;

	if (!is_stdin(path) && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_errorf("%s: cannot open %s: %s", what, path, strerror(errno));
		return KW_ERR_IO;
	}
	r = read_all(fd, what, name, out);
	if (fd != 0)
		close(fd);
	return r;
}

static bool is_blank(uint8_t ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int cli_read_text(const char *what, const char *path, struct kw_buf *out)
{
	int r;

	if ((r = cli_read_input(what, path, out)) != 0)
		return r;
	if (out->len > 0 && memchr(out->data, '\0', out->len) != NULL) {
		cli_errorf("%s: %s is not text (it holds NUL bytes)", what,
		           is_stdin(path) ? "stdin" : path);
		return KW_ERR_INVALID;
	}
	while (out->len > 0 && is_blank(out->data[out->len - 1]))
		out->len--;
	return kw_buf_append_u8(out, 0);
}

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

/* A signal while echo is off must not leave the terminal silent. */
static void tty_restore_and_die(int sig)
{
	if (tty_changed)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int echo_off(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
		return KW_ERR_IO;
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)ECHO;
	signal(SIGINT, tty_restore_and_die);
	signal(SIGTERM, tty_restore_and_die);
	signal(SIGHUP, tty_restore_and_die);
	tty_changed = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0) {
		tty_changed = 0;
		return KW_ERR_IO;
	}
	return 0;
}

static void echo_restore(void)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_changed = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	fputc('\n', stderr);
}

/* One line into buf; byte by byte so nothing past the newline is consumed. */
static int read_line(char *buf, size_t len)
{
	size_t n = 0;

	for (;;) {
		char ch;
		ssize_t got = read(STDIN_FILENO, &ch, 1);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return KW_ERR_IO;
		if (got == 0 || ch == '\n')
			break;
		if (n + 1 >= len)
			return KW_ERR_TOO_LARGE;
		buf[n++] = ch;
	}
	while (n > 0 && is_blank((uint8_t)buf[n - 1]))
		n--;
	buf[n] = '\0';
	return 0;
}

int cli_read_secret(const char *prompt, char *buf, size_t len)
{
	bool tty = isatty(STDIN_FILENO);
	int r;

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		if ((r = echo_off()) != 0)
			return r;
	}
	r = read_line(buf, len);
	if (tty)
		echo_restore();
	if (r != 0)
		kw_wipe(buf, len);
	return r;
}

/* --- outputs ---------------------------------------------------------------- */

int cli_write(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return KW_ERR_IO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int cli_printf(const char *fmt, ...)
{
	struct kw_buf b;
	va_list ap;
	int n, r;

	kw_buf_init(&b);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return KW_ERR_INTERNAL;
	if ((r = kw_buf_reserve(&b, (size_t)n + 1)) != 0)
		goto out;
	va_start(ap, fmt);
	vsnprintf((char *)b.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	r = cli_write(b.data, (size_t)n);
out:
	kw_buf_cleanup(&b);
	return r;
}

int cli_print_text(const char *s, bool multiline)
{
	struct kw_buf b;
	int r = 0;

	kw_buf_init(&b);
	/* The server's text must not drive the terminal (escape sequences). */
	for (; *s != '\0' && r == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch < 0x20 || ch == 0x7f) && !(multiline && (ch == '\n' || ch == '\t')))
			ch = '?';
		r = kw_buf_append_u8(&b, ch);
	}
	if (r == 0)
		r = cli_write(b.data, b.len);
	kw_buf_cleanup(&b);
	return r;
}

static int print_scalar(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return cli_print_text(json_string_value(v), false);
	case JSON_INTEGER:
		return cli_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return cli_printf("%g", json_real_value(v));
	case JSON_TRUE:
		return cli_printf("true");
	case JSON_FALSE:
		return cli_printf("false");
	default:
		return cli_printf("null");
	}
}

int cli_print_field(const char *name, const json_t *v)
{
	const json_t *e;
	size_t i;
	int r;

	if (v == NULL || json_is_object(v))
		return 0;
	if ((r = cli_printf("%s: ", name)) != 0)
		return r;
	if (json_is_array(v)) {
		/* Lists of names (policies) print on one line. */
		json_array_foreach(v, i, e) if ((r = cli_printf("%s", i ? ", " : "")) != 0 ||
		                                (r = print_scalar(e)) != 0) return r;
	} else if ((r = print_scalar(v)) != 0) {
		return r;
	}
	return cli_printf("\n");
}

static int dump_append(const char *p, size_t n, void *userp)
{
	return kw_buf_append(userp, p, n) == 0 ? 0 : -1;
}

int cli_print_json(const json_t *j)
{
	struct kw_buf b;
	int r = KW_ERR_NOMEM;

	kw_buf_init(&b);
	/* Sorted keys: the same reply prints the same bytes. */
	if (json_dump_callback(j, dump_append, &b,
	                       JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY))
		goto out;
	if (kw_buf_append_u8(&b, '\n') != 0)
		goto out;
	r = cli_write(b.data, b.len);
out:
	kw_buf_cleanup(&b);
	return r;
}

int cli_print_reply(const struct cli_args *a, const json_t *j, int (*print_text)(const json_t *j))
{
	if (a->format == CLI_FORMAT_JSON)
		return cli_print_json(j);
	return print_text(j);
}

int cli_print_names(const struct cli_args *a, json_t *names)
{
	const json_t *e;
	size_t i;
	int r = 0;

	if (a->format == CLI_FORMAT_JSON) {
		json_t *data = json_pack("{sO}", "keys", names);

		if (data == NULL)
			return KW_ERR_NOMEM;
		r = cli_print_json(data);
		json_decref(data);
		return r;
	}
	json_array_foreach(names, i, e)
	{
		if (!json_is_string(e))
			continue;
		if ((r = cli_print_text(json_string_value(e), false)) != 0 ||
		    (r = cli_printf("\n")) != 0)
			return r;
	}
	return 0;
}
