/* fake.c: the tests' scripted HTTP server (see fake.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "tests.h"

#include "../../../src/common/common.h"
#include "fake.h"

/* What to answer from now on, and how many requests to drop first. */
void fake_script_drop(struct fake *f, unsigned status, const char *reply, unsigned drop)
{
	unsigned connections;

	pthread_mutex_lock(&f->lock);
	f->status = status;
	snprintf(f->reply, sizeof(f->reply), "%s", reply);
	f->drop = drop;
	connections = f->seen.connections;
	memset(&f->seen, 0, sizeof(f->seen));
	f->seen.connections = connections;
	pthread_mutex_unlock(&f->lock);
}

void fake_script(struct fake *f, unsigned status, const char *reply)
{
	fake_script_drop(f, status, reply, 0);
}

/* A copy taken under the lock: the server's threads wrote it. */
struct fake_record fake_seen(struct fake *f)
{
	struct fake_record r;

	pthread_mutex_lock(&f->lock);
	r = f->seen;
	pthread_mutex_unlock(&f->lock);
	return r;
}

static void copy_header(struct MHD_Connection *conn, const char *name, char *dst, size_t len)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	snprintf(dst, len, "%s", v ? v : "");
}

static enum MHD_Result fake_answer(struct fake *f, struct MHD_Connection *conn, const char *url,
                                   const char *method, struct kw_buf *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status;
	char reply[sizeof(f->reply)];

	pthread_mutex_lock(&f->lock);
	snprintf(f->seen.method, sizeof(f->seen.method), "%s", method);
	snprintf(f->seen.url, sizeof(f->seen.url), "%s", url);
	snprintf(f->seen.body, sizeof(f->seen.body), "%.*s", (int)body->len,
	         (const char *)body->data);
	copy_header(conn, "X-Vault-Token", f->seen.token, sizeof(f->seen.token));
	copy_header(conn, "X-Vault-Request", f->seen.vault_request, sizeof(f->seen.vault_request));
	status = f->status;
	memcpy(reply, f->reply, sizeof(reply));
	pthread_mutex_unlock(&f->lock);
	resp = MHD_create_response_from_buffer(strlen(reply), reply, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct fake *f = cls;
	struct kw_buf *body = *con_cls;
	bool drop;

	if (body == NULL) {
		pthread_mutex_lock(&f->lock);
		f->seen.requests++;
		drop = f->drop > 0;
		if (drop)
			f->drop--;
		pthread_mutex_unlock(&f->lock);
		if (drop)
			return MHD_NO; /* closes the connection with no reply */
		body = calloc(1, sizeof(*body));
		assert_non_null(body);
		kw_buf_init(body);
		*con_cls = body;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		assert_int_equal(kw_buf_append(body, upload_data, *upload_size), 0);
		*upload_size = 0;
		return MHD_YES;
	}
	return fake_answer(f, conn, url, method, body);
}

static void fake_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
	struct kw_buf *body = *con_cls;

	if (body != NULL) {
		kw_buf_cleanup(body);
		free(body);
		*con_cls = NULL;
	}
}

static void fake_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode toe)
{
	struct fake *f = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		pthread_mutex_lock(&f->lock);
		f->seen.connections++;
		pthread_mutex_unlock(&f->lock);
	}
}

int fake_start(struct fake *f, int listen_fd)
{
	const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;

	pthread_mutex_init(&f->lock, NULL);
	/* MHD closes listen_fd when it stops. */
	f->d = MHD_start_daemon(flags, 0, NULL, NULL, fake_handler, f, MHD_OPTION_LISTEN_SOCKET,
	                        listen_fd, MHD_OPTION_NOTIFY_COMPLETED, fake_completed, f,
	                        MHD_OPTION_NOTIFY_CONNECTION, fake_connection, f, MHD_OPTION_END);
	return f->d ? 0 : -1;
}

int fake_start_tcp(struct fake *f)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	snprintf(f->url_base, sizeof(f->url_base), "http://127.0.0.1:%u", ntohs(sin.sin_port));
	return fake_start(f, fd);
}

void fake_stop(struct fake *f)
{
	MHD_stop_daemon(f->d);
	pthread_mutex_destroy(&f->lock);
}
