/*
 * chanpool.c: the keeper channels, lent to requests one at a time.
 *
 * A stack under a mutex and a condition variable. A connection's thread
 * borrows a channel for one request; when more requests are in flight than
 * there are channels, the rest wait here. Once any channel fails the pool
 * is "failed": waiters wake with KW_ERR_UNAVAILABLE instead of blocking the
 * shutdown (MHD_stop_daemon joins the connection threads).
 */
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

int kw_chanpool_init(struct kw_chanpool *p, const int *fds, size_t n)
{
	memset(p, 0, sizeof(*p));
	if (n == 0)
		return KW_ERR_INVALID;
	p->fds = calloc(n, sizeof(*p->fds));
	if (p->fds == NULL)
		return KW_ERR_NOMEM;
	memcpy(p->fds, fds, n * sizeof(*fds));
	p->n = n;
	p->cap = n;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	return 0;
}

void kw_chanpool_cleanup(struct kw_chanpool *p)
{
	if (p->fds == NULL)
		return;
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->fds);
	memset(p, 0, sizeof(*p));
}

int kw_chanpool_get(struct kw_chanpool *p, int *fd)
{
	int err = 0;

	pthread_mutex_lock(&p->mu);
	while (p->n == 0 && !p->failed)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->failed)
		err = KW_ERR_UNAVAILABLE;
	else
		*fd = p->fds[--p->n];
	pthread_mutex_unlock(&p->mu);
	return err;
}

void kw_chanpool_put(struct kw_chanpool *p, int fd)
{
	pthread_mutex_lock(&p->mu);
	/* Only borrowed channels come back, so there is always room. */
	if (p->n < p->cap)
		p->fds[p->n++] = fd;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

bool kw_chanpool_fail(struct kw_chanpool *p)
{
	bool first;

	pthread_mutex_lock(&p->mu);
	first = !p->failed;
	p->failed = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return first;
}
