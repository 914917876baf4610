/*
 * slots.c: one slot (and its always-present token) per configured server —
 * C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList,
 * C_GetMechanismInfo, C_Login, C_Logout — and each slot's pool of client
 * handles. The login is the slot's, shared by all the application's sessions
 * on it (v2.40 5.6); the token it carries is secret and lives in one
 * allocation, wiped when replaced.
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
	s->gen++;
}

CK_RV p11_client_take(CK_SLOT_ID id, struct p11_client *out)
{
	struct p11_slot *s;
	struct p11_client pc = {0};
	CK_RV rv;

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

/* The token to try: the PIN, or with an empty PIN the configured one. */
static CK_RV login_token(const struct p11_server *srv, CK_UTF8CHAR_PTR pin, CK_ULONG len,
                         char **out)
{
	char *t;
	int r;

	if (pin == NULL || len == 0) {
		r = p11_server_token(srv, &t);
		if (r == KW_ERR_NOT_FOUND)
			return CKR_PIN_INCORRECT;
		if (r != 0)
			return r == KW_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
		*out = t;
		return CKR_OK;
	}
	if (len > KW_CLIENT_TOKEN_MAX)
		return CKR_PIN_LEN_RANGE;
	if ((t = malloc(len + 1)) == NULL)
		return CKR_HOST_MEMORY;
	memcpy(t, pin, len);
	t[len] = '\0';
	*out = t;
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

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
              CK_ULONG ulPinLen)
{
	struct p11_session *s;
	struct p11_slot *slot;
	struct kw_client *base;
	char *token = NULL;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	p11_enter();
	slot = &p11->slots[s->slot];
	base = slot->base;
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
	} else {
		rv = login_token(slot->srv, pPin, ulPinLen, &token);
	}
	p11_leave();
	/* The server round trip runs without the module lock. */
	if (rv == CKR_OK)
		rv = login_check(base, token);
	if (rv == CKR_OK) {
		p11_enter();
		if (slot->logged_in) {
			rv = CKR_USER_ALREADY_LOGGED_IN; /* another thread won */
		} else {
			token_purge(&slot->token);
			slot->token = token;
			token = NULL;
			slot->logged_in = true;
			slot->gen++;
		}
		p11_leave();
	}
	if (token != NULL)
		token_purge(&token);
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
