/*
 * chan.c: moving frames over a channel. Blocking, EINTR-safe, and bounded:
 * the header's length is checked before a byte of the body is allocated.
 */
#include <errno.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		/* MSG_NOSIGNAL: a dead peer is an error return, not SIGPIPE. */
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return KW_ERR_IPC;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* KW_ERR_IO for a clean end of stream before the first byte (the peer
 * closed between frames), KW_ERR_IPC for anything torn. */
static int read_all(int fd, uint8_t *p, size_t n)
{
	bool started = false;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && !started)
			return KW_ERR_IO;
		if (r <= 0)
			return KW_ERR_IPC;
		started = true;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int kw_ipc_send(int fd, struct kw_ipc_msg *m)
{
	size_t body;

	if (m->buf.data == NULL || m->buf.len < KW_IPC_HEADER_BYTES)
		return KW_ERR_IPC;
	body = m->buf.len - KW_IPC_HEADER_BYTES;
	if (body > KW_IPC_FRAME_MAX)
		return KW_ERR_LIMIT;
	kw_store_u32(m->buf.data, (uint32_t)body);
	return write_all(fd, m->buf.data, m->buf.len);
}

int kw_ipc_recv(int fd, struct kw_ipc_msg *m)
{
	uint8_t hdr[KW_IPC_HEADER_BYTES];
	struct kw_buf frame;
	uint32_t body_len;
	int r;

	kw_buf_init(&m->buf);
	m->nfields = 0;
	if ((r = read_all(fd, hdr, sizeof(hdr))) != 0)
		return r;
	body_len = kw_load_u32(hdr);
	if (body_len > KW_IPC_FRAME_MAX)
		return KW_ERR_IPC;
	kw_buf_init(&frame);
	if (kw_buf_reserve(&frame, sizeof(hdr) + body_len) != 0)
		return KW_ERR_NOMEM;
	memcpy(frame.data, hdr, sizeof(hdr));
	if ((r = read_all(fd, frame.data + sizeof(hdr), body_len)) == KW_ERR_IO)
		r = body_len ? KW_ERR_IPC : 0;
	if (r == 0) {
		frame.len = sizeof(hdr) + body_len;
		r = kw_ipc_decode(m, frame.data, frame.len);
	}
	kw_buf_cleanup(&frame);
	return r;
}

int kw_ipc_call(int fd, struct kw_ipc_msg *req, struct kw_ipc_msg *reply)
{
	int r;

	if ((r = kw_ipc_send(fd, req)) != 0)
		return r;
	if ((r = kw_ipc_recv(fd, reply)) != 0)
		return r;
	if (reply->type != req->type || !(reply->flags & KW_IPC_F_REPLY)) {
		kw_ipc_msg_cleanup(reply);
		return KW_ERR_IPC;
	}
	return 0;
}
