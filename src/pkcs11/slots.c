/*
 * slots.c: one slot (and its always-present token) per configured server —
 * C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList,
 * C_GetMechanismInfo, C_Login, C_Logout — and each slot's pool of client
 * handles. The login is the slot's, shared by all the application's sessions
 * on it (v2.40 5.6); the token it carries is secret and lives in one
 * allocation, wiped when replaced.
 *
 * An automatic login (empty PIN, auth.c) is kept alive here: taking a client
 * handle first renews it when its lease is two-thirds gone or its credential
 * file has changed, and p11_client_renew() renews it when the server calls
 * the token bad. Lock order: a session's lock, then the slot's login_lock,
 * then the module lock; no network call runs under the module lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

void p11_fill_padded(CK_UTF8CHAR *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', len);
	memcpy(dst, src, n < len ? n : len);
}

static void token_purge(char **t)
{
	if (*t == NULL)
		return;
	kw_wipe(*t, strlen(*t));
	free(*t);
	*t = NULL;
}

int p11_slots_open(struct p11_state *st)
{
	for (size_t i = 0; i < st->conf.nservers; i++) {
		struct p11_server *srv = &st->conf.servers[i];
		struct kw_client_opts o = {
		    .address = srv->address,
		    .ca_cert = srv->ca_cert,
		    .client_cert = srv->client_cert,
		    .client_key = srv->client_key,
		};
		int r;

		st->slots[i].srv = srv;
		if ((r = kw_client_new(&o, &st->slots[i].base)) != 0)
			return r;
		st->nslots = i + 1;
		if ((r = p11_lock_new(&st->slots[i].login_lock)) != 0)
			return r;
	}
	return 0;
}

void p11_slots_close(struct p11_state *st)
{
	for (size_t i = 0; i < st->nslots; i++) {
		struct p11_slot *s = &st->slots[i];

		for (size_t j = 0; j < s->nidle; j++)
			kw_client_free(s->idle[j].c);
		kw_client_free(s->base);
		token_purge(&s->token);
		p11_lock_free(s->login_lock);
	}
	st->nslots = 0;
}

CK_RV p11_slot_check(CK_SLOT_ID id)
{
	return id < p11->nslots ? CKR_OK : CKR_SLOT_ID_INVALID;
}

bool p11_logged_in(CK_SLOT_ID slot)
{
	return p11->slots[slot].logged_in;
}

void p11_slot_logout(struct p11_slot *s)
{
	token_purge(&s->token);
	s->logged_in = false;
	s->auto_login = false;
	s->renew_ms = s->retry_ms = 0;
	memset(&s->stamp, 0, sizeof(s->stamp));
	s->gen++;
}

/* Under the module lock: the new login takes over the slot. */
static void slot_install(struct p11_slot *s, struct p11_login *l, bool automatic)
{
	token_purge(&s->token);
	s->token = l->token;
	l->token = NULL;
	s->logged_in = true;
	s->auto_login = automatic;
	s->renew_ms = l->renew_ms;
	s->retry_ms = 0;
	s->stamp = l->stamp;
	s->gen++;
}

/*
 * Log the slot in again from its automatic credential, unless it is no
 * longer the login of generation gen (another thread renewed it, or the
 * application logged out). true when the slot now carries a newer token.
 */
static bool slot_relogin(CK_SLOT_ID id, unsigned gen)
{
	struct p11_slot *s = &p11->slots[id];
	struct p11_login l = {0};
	bool current, ok = false;
	CK_RV rv;

	p11_lock(s->login_lock);
	if (p11_enter() != CKR_OK)
		goto unlock;
	current = s->logged_in && s->auto_login && s->gen == gen;
	ok = s->logged_in && s->gen != gen;
	p11_leave();
	if (!current)
		goto unlock;
	rv = p11_auth_login(s->base, s->srv, &l);
	if (p11_enter() != CKR_OK)
		goto unlock;
	if (rv == CKR_OK && s->logged_in && s->gen == gen) {
		slot_install(s, &l, true);
		ok = true;
	} else if (rv != CKR_OK) {
		/* Keep the old token; it may still work. Try again later. */
		s->retry_ms = p11_now_ms() + P11_RETRY_MS;
		p11_debug("automatic login renewal failed (0x%lx)", (unsigned long)rv);
	}
	p11_leave();
unlock:
	p11_unlock(s->login_lock);
	p11_login_cleanup(&l);
	return ok;
}

/* Before a request: renew an automatic login whose lease is mostly gone or
 * whose credential file changed (kubelet's token rotation). */
static void slot_refresh(CK_SLOT_ID id)
{
	struct p11_slot *s;
	struct p11_stamp stamp;
	const char *path = NULL;
	int64_t now = p11_now_ms();
	bool due = false;
	unsigned gen;

	if (p11_enter() != CKR_OK)
		return;
	s = &p11->slots[id];
	if (s->logged_in && s->auto_login && now >= s->retry_ms) {
		due = s->renew_ms != 0 && now >= s->renew_ms;
		path = s->stamp.set ? p11_auth_file(s->srv) : NULL;
	}
	stamp = s->stamp;
	gen = s->gen;
	p11_leave();
	/* The file is looked at without the module lock: a stat per request. */
	if (!due && path != NULL) {
		due = p11_auth_file_changed(path, &stamp);
		if (!due && p11_enter() == CKR_OK) {
			if (s->gen == gen)
				s->stamp = stamp; /* touched, same content */
			p11_leave();
		}
	}
	if (due)
		(void)slot_relogin(id, gen);
}

bool p11_client_renew(CK_SLOT_ID id, const struct p11_client *pc, int err)
{
	if (err != KW_ERR_AUTH)
		return false;
	return slot_relogin(id, pc->gen);
}

CK_RV p11_client_take(CK_SLOT_ID id, struct p11_client *out)
{
	struct p11_slot *s;
	struct p11_client pc = {0};
	CK_RV rv;

	slot_refresh(id);
	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	s = &p11->slots[id];
	if (s->nidle > 0) {
		pc = s->idle[--s->nidle];
	} else if (kw_client_dup(s->base, &pc.c) != 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	} else {
		pc.gen = (unsigned)-1;
	}
	/* A handle made before the last login or logout carries the old token. */
	if (pc.gen != s->gen) {
		if (kw_client_set_token(pc.c, s->token) != 0) {
			kw_client_free(pc.c);
			rv = CKR_FUNCTION_FAILED;
			goto out;
		}
		pc.gen = s->gen;
	}
	*out = pc;
out:
	p11_leave();
	return rv;
}

void p11_client_put(CK_SLOT_ID id, struct p11_client *pc, bool broken)
{
	struct p11_slot *s;

	if (pc->c == NULL)
		return;
	/* After C_Finalize (or in a forked child) the handle is the caller's
	 * leak to avoid touching a state that is gone. */
	if (p11_enter() != CKR_OK)
		return;
	s = &p11->slots[id];
	if (!broken && s->nidle < P11_IDLE_MAX) {
		s->idle[s->nidle++] = *pc;
		pc->c = NULL;
	}
	p11_leave();
	kw_client_free(pc->c);
	pc->c = NULL;
}

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_ULONG have;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if (pulCount == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	have = *pulCount;
	*pulCount = p11->nslots;
	if (pSlotList == NULL)
		goto out;
	if (have < p11->nslots) {
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	for (size_t i = 0; i < p11->nslots; i++)
		pSlotList[i] = i;
out:
	p11_leave();
	return rv;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((rv = p11_slot_check(slotID)) != CKR_OK)
		goto out;
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	memset(pInfo, 0, sizeof(*pInfo));
	p11_fill_padded(pInfo->slotDescription, sizeof(pInfo->slotDescription),
	                p11->slots[slotID].srv->address ? p11->slots[slotID].srv->address
	                                                : KW_CLIENT_DEFAULT_ADDR);
	p11_fill_padded(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
	pInfo->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
	pInfo->hardwareVersion.major = 0;
	pInfo->firmwareVersion.major = 0;
out:
	p11_leave();
	return rv;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	struct p11_slot *s;
	char serial[17];
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((rv = p11_slot_check(slotID)) != CKR_OK)
		goto out;
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	s = &p11->slots[slotID];
	memset(pInfo, 0, sizeof(*pInfo));
	p11_fill_padded(pInfo->label, sizeof(pInfo->label), s->srv->label);
	p11_fill_padded(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
	p11_fill_padded(pInfo->model, sizeof(pInfo->model), "keywardd");
	snprintf(serial, sizeof(serial), "%016lu", (unsigned long)slotID);
	p11_fill_padded(pInfo->serialNumber, sizeof(pInfo->serialNumber), serial);
	pInfo->flags =
	    CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
	/* A configured token logs in with an empty PIN: nothing to type. */
	if (p11_server_auto_login(s->srv))
		pInfo->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
	pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulMaxPinLen = KW_CLIENT_TOKEN_MAX;
	pInfo->ulMinPinLen = 0;
	pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->firmwareVersion.major = 0;
	p11_fill_padded(pInfo->utcTime, sizeof(pInfo->utcTime), "");
out:
	p11_leave();
	return rv;
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                         CK_ULONG_PTR pulCount)
{
	CK_ULONG have;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((rv = p11_slot_check(slotID)) != CKR_OK)
		goto out;
	if (pulCount == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	have = *pulCount;
	*pulCount = p11_mech_count();
	if (pMechanismList == NULL)
		goto out;
	if (have < p11_mech_count()) {
		rv = CKR_BUFFER_TOO_SMALL;
		goto out;
	}
	for (size_t i = 0; i < p11_mech_count(); i++)
		pMechanismList[i] = p11_mech_at(i)->type;
out:
	p11_leave();
	return rv;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
	const struct p11_mech *m;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((rv = p11_slot_check(slotID)) != CKR_OK)
		goto out;
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((m = p11_mech_find(type)) == NULL) {
		rv = CKR_MECHANISM_INVALID;
		goto out;
	}
	*pInfo = m->info;
out:
	p11_leave();
	return rv;
}

/* The PIN as a token (a keyward token typed or passed by the caller). */
static CK_RV pin_token(CK_UTF8CHAR_PTR pin, CK_ULONG len, struct p11_login *out)
{
	char *t;

	if (len > KW_CLIENT_TOKEN_MAX)
		return CKR_PIN_LEN_RANGE;
	if ((t = malloc(len + 1)) == NULL)
		return CKR_HOST_MEMORY;
	memcpy(t, pin, len);
	t[len] = '\0';
	out->token = t;
	return CKR_OK;
}

/* Ask the server whether the token is good, on a handle of our own. */
static CK_RV login_check(struct kw_client *base, const char *token)
{
	struct kw_client *c = NULL;
	json_t *data = NULL;
	CK_RV rv = CKR_OK;
	int r;

	if (kw_client_dup(base, &c) != 0)
		return CKR_HOST_MEMORY;
	if (kw_client_set_token(c, token) != 0) {
		rv = CKR_PIN_INCORRECT; /* characters a header cannot carry */
		goto out;
	}
	r = kw_client_token_lookup_self(c, &data);
	if (r == KW_ERR_AUTH || r == KW_ERR_DENIED)
		rv = CKR_PIN_INCORRECT;
	else if (r != 0)
		rv = r == KW_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
	if (r != 0)
		p11_debug("login: token check failed (%s)", kw_client_error_code(c));
out:
	kw_client_json_free(data);
	kw_client_free(c);
	return rv;
}

/* The login to install: the PIN checked by the server, or with an empty PIN
 * the automatic one (a kubernetes login is its own check). */
static CK_RV login_get(struct p11_slot *slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, bool automatic,
                       struct p11_login *out)
{
	CK_RV rv;

	if (automatic)
		rv = p11_auth_login(slot->base, slot->srv, out);
	else
		rv = pin_token(pin, len, out);
	if (rv == CKR_OK && !(automatic && slot->srv->k8s_role != NULL))
		rv = login_check(slot->base, out->token);
	return rv;
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
              CK_ULONG ulPinLen)
{
	struct p11_session *s;
	struct p11_slot *slot;
	struct p11_login l = {0};
	bool automatic = pPin == NULL || ulPinLen == 0;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	p11_enter();
	slot = &p11->slots[s->slot];
	if (userType == CKU_CONTEXT_SPECIFIC) {
		/* No key has CKA_ALWAYS_AUTHENTICATE (v2.40 5.6 C_Login). */
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else if (userType == CKU_SO) {
		/* keyward has no security officer behind a token slot. */
		rv = CKR_USER_TYPE_INVALID;
	} else if (userType != CKU_USER) {
		rv = CKR_USER_TYPE_INVALID;
	} else if (slot->logged_in) {
		rv = CKR_USER_ALREADY_LOGGED_IN;
	} else if (automatic && !p11_server_auto_login(slot->srv)) {
		rv = CKR_PIN_INCORRECT; /* nothing configured to log in with */
	}
	p11_leave();
	/* The server round trips run without the module lock. */
	if (rv == CKR_OK)
		rv = login_get(slot, pPin, ulPinLen, automatic, &l);
	if (rv == CKR_OK) {
		p11_enter();
		if (slot->logged_in)
			rv = CKR_USER_ALREADY_LOGGED_IN; /* another thread won */
		else
			slot_install(slot, &l, automatic);
		p11_leave();
	}
	p11_login_cleanup(&l);
	p11_session_put(s);
	return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	p11_enter();
	if (!p11->slots[s->slot].logged_in)
		rv = CKR_USER_NOT_LOGGED_IN;
	else
		p11_slot_logout(&p11->slots[s->slot]);
	p11_leave();
	p11_session_put(s);
	return rv;
}

int p11_call(CK_SLOT_ID slot, const char *what, p11_call_fn fn, void *arg, CK_RV *rv)
{
	struct p11_client pc = {0};
	int r;

	for (int attempt = 0;; attempt++) {
		if ((*rv = p11_client_take(slot, &pc)) != CKR_OK)
			return KW_ERR_INTERNAL;
		r = fn(pc.c, arg);
		/* A token refused as bad did nothing: once more after renewal. */
		if (r == 0 || attempt > 0 || !p11_client_renew(slot, &pc, r))
			break;
		p11_client_put(slot, &pc, false);
	}
	if (r != 0)
		p11_debug("%s failed (%s)", what, kw_client_error_code(pc.c));
	*rv = p11_rv(r);
	/* A connection that failed mid-request is not reused. */
	p11_client_put(slot, &pc, r == KW_ERR_IO || r == KW_ERR_UNAVAILABLE);
	return r;
}
