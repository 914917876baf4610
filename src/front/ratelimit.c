/*
 * ratelimit.c: a token bucket per client address (limits.rate requests a
 * second, up to limits.burst at once), checked in the front before a
 * request is parsed or reaches the keeper. It keeps one client from
 * starving the others and slows anyone hammering a key through a stolen
 * token; it is not a defence against many addresses at once.
 *
 * The table is fixed: RL_STRIPES stripes of RL_STRIPE_SLOTS slots, each
 * stripe under its own mutex. An address probes RL_PROBE slots of its
 * stripe; when none is its own, the one idle longest is taken over and
 * starts with a full bucket. Under churn from many addresses that makes the
 * limit lenient, never wrong for a client that keeps to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_int.h"

static uint64_t addr_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

int kw_ratelimit_init(struct kw_ratelimit *rl, unsigned rate, unsigned burst)
{
	memset(rl, 0, sizeof(*rl));
	if (rate == 0)
		return 0; /* off */
	rl->rate = rate;
	rl->burst = burst ? burst : rate;
	rl->slots = calloc(RL_STRIPES * RL_STRIPE_SLOTS, sizeof(*rl->slots));
	if (rl->slots == NULL)
		return KW_ERR_NOMEM;
	for (size_t i = 0; i < RL_STRIPES; i++)
		pthread_mutex_init(&rl->mu[i], NULL);
	return 0;
}

void kw_ratelimit_cleanup(struct kw_ratelimit *rl)
{
	if (rl->slots == NULL)
		return;
	for (size_t i = 0; i < RL_STRIPES; i++)
		pthread_mutex_destroy(&rl->mu[i]);
	free(rl->slots);
	rl->slots = NULL;
}

/* Under the stripe's mutex: addr's slot, or the one idle longest, reset. */
static struct kw_rl_slot *slot_of(struct kw_ratelimit *rl, struct kw_rl_slot *stripe, size_t start,
                                  const char *addr)
{
	struct kw_rl_slot *oldest = NULL;

	for (size_t i = 0; i < RL_PROBE; i++) {
		struct kw_rl_slot *s = &stripe[(start + i) % RL_STRIPE_SLOTS];

		if (s->last_ns != 0 && strcmp(s->addr, addr) == 0)
			return s;
		if (oldest == NULL || s->last_ns < oldest->last_ns)
			oldest = s;
	}
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
	oldest->tokens = rl->burst;
	oldest->last_ns = 0;
	return oldest;
}

unsigned kw_ratelimit_take(struct kw_ratelimit *rl, const char *addr, uint64_t now_ns)
{
	uint64_t h = addr_hash(addr);
	size_t stripe = (size_t)(h % RL_STRIPES);
	struct kw_rl_slot *s;
	unsigned wait = 0;

	if (rl->slots == NULL)
		return 0;
	pthread_mutex_lock(&rl->mu[stripe]);
	s = slot_of(rl, rl->slots + stripe * RL_STRIPE_SLOTS, (size_t)(h >> 32), addr);
	if (s->last_ns != 0 && now_ns > s->last_ns) {
		s->tokens += (double)(now_ns - s->last_ns) / 1e9 * rl->rate;
		if (s->tokens > rl->burst)
			s->tokens = rl->burst;
	}
	s->last_ns = now_ns ? now_ns : 1;
	if (s->tokens >= 1.0) {
		s->tokens -= 1.0;
	} else {
		double w = (1.0 - s->tokens) / rl->rate; /* > 0: tokens < 1 */

		wait = (unsigned)w;
		if ((double)wait < w)
			wait++; /* whole seconds, rounded up */
	}
	pthread_mutex_unlock(&rl->mu[stripe]);
	return wait;
}
