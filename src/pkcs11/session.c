/*
 * session.c: the session table and the session rules of PKCS#11 v2.40 5.6 —
 * C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo — and
 * the per-session operation state shared by find, sign, verify, encrypt,
 * decrypt and digest. One operation is active per session; buffered input
 * may be plaintext and is wiped when the operation ends.
 *
 * A session handle is generation << P11_SESSION_BITS | (index + 1), so a
 * closed handle is not mistaken for the session that later takes its slot.
 */
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

void p11_op_end(struct p11_op *op)
{
	if (op->buf != NULL) {
		kw_wipe(op->buf, op->cap);
		free(op->buf);
	}
	if (op->out != NULL) {
		kw_wipe(op->out, op->out_len);
		free(op->out);
	}
	EVP_MD_CTX_free(op->md);
	p11_key_put(op->key);
	free(op->label);
	free(op->iv);
	free(op->aad);
	free(op->found);
	memset(op, 0, sizeof(*op));
}

int p11_op_append(struct p11_op *op, const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > P11_DATA_MAX - op->len)
		return KW_ERR_TOO_LARGE;
	if (op->len + n > op->cap) {
		size_t cap = op->cap ? op->cap : 256;
		uint8_t *b;

		while (cap < op->len + n)
			cap *= 2;
		/* Not realloc: the old buffer may hold plaintext to wipe. */
		if ((b = malloc(cap)) == NULL)
			return KW_ERR_NOMEM;
		if (op->buf != NULL) {
			memcpy(b, op->buf, op->len);
			kw_wipe(op->buf, op->cap);
			free(op->buf);
		}
		op->buf = b;
		op->cap = cap;
	}
	memcpy(op->buf + op->len, p, n);
	op->len += n;
	return 0;
}

static void session_free(struct p11_session *s)
{
	p11_op_end(&s->op);
	p11_lock_free(s->lock);
	free(s);
}

bool p11_session_rw(const struct p11_session *s)
{
	return (s->flags & CKF_RW_SESSION) != 0;
}

/* Under the module lock. */
static struct p11_session *session_lookup(CK_SESSION_HANDLE h)
{
	CK_ULONG idx = h & ((1ul << P11_SESSION_BITS) - 1);
	struct p11_session *s;

	if (idx == 0 || idx > P11_SESSIONS_MAX)
		return NULL;
	s = p11->sessions[idx - 1];
	return (s != NULL && s->handle == h) ? s : NULL;
}

CK_RV p11_session_get(CK_SESSION_HANDLE h, struct p11_session **out)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((s = session_lookup(h)) == NULL) {
		p11_leave();
		return CKR_SESSION_HANDLE_INVALID;
	}
	s->refs++;
	p11_leave();
	/* Calls on one session are serialised; the module lock is free meanwhile. */
	p11_lock(s->lock);
	*out = s;
	return CKR_OK;
}

void p11_session_put(struct p11_session *s)
{
	bool last;

	p11_unlock(s->lock);
	if (p11_enter() != CKR_OK)
		return; /* finalised under us: the state (and s) is gone */
	last = --s->refs == 0 && s->closed;
	p11_leave();
	if (last)
		session_free(s);
}

CK_RV p11_session_get_op(CK_SESSION_HANDLE h, enum p11_op_kind kind, struct p11_session **out)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(h, &s)) != CKR_OK)
		return rv;
	if (s->op.kind != kind) {
		p11_session_put(s);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	*out = s;
	return CKR_OK;
}

CK_RV p11_session_put_op(struct p11_session *s, CK_RV rv, bool keep)
{
	if (!keep)
		p11_op_end(&s->op);
	p11_session_put(s);
	return rv;
}

/* Under the module lock: out of the table, freed now or by its last user. */
static void session_close_locked(struct p11_session *s)
{
	struct p11_slot *slot = &p11->slots[s->slot];
	CK_ULONG idx = s->handle & ((1ul << P11_SESSION_BITS) - 1);

	p11->sessions[idx - 1] = NULL;
	s->closed = true;
	/* Closing the last session logs the application out (v2.40 5.6). */
	if (--slot->nsessions == 0 && slot->logged_in)
		p11_slot_logout(slot);
	if (s->refs == 0)
		session_free(s);
}

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                    CK_SESSION_HANDLE_PTR phSession)
{
	struct p11_session *s = NULL;
	size_t i;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((rv = p11_slot_check(slotID)) != CKR_OK)
		goto out;
	/* Legacy flag, must be set (v2.40 5.6 C_OpenSession). */
	if (!(flags & CKF_SERIAL_SESSION)) {
		rv = CKR_SESSION_PARALLEL_NOT_SUPPORTED;
		goto out;
	}
	if (phSession == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	for (i = 0; i < P11_SESSIONS_MAX && p11->sessions[i] != NULL; i++)
		;
	if (i == P11_SESSIONS_MAX) {
		rv = CKR_SESSION_COUNT;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || p11_lock_new(&s->lock) != 0) {
		free(s);
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	p11->session_gen = (p11->session_gen + 1) & 0xfffff;
	if (p11->session_gen == 0)
		p11->session_gen = 1;
	s->handle = ((CK_SESSION_HANDLE)p11->session_gen << P11_SESSION_BITS) | (i + 1);
	s->slot = slotID;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	p11->sessions[i] = s;
	p11->slots[slotID].nsessions++;
	*phSession = s->handle;
out:
	p11_leave();
	return rv;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((s = session_lookup(hSession)) == NULL)
		rv = CKR_SESSION_HANDLE_INVALID;
	else
		session_close_locked(s);
	p11_leave();
	return rv;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if ((rv = p11_slot_check(slotID)) == CKR_OK) {
		for (size_t i = 0; i < P11_SESSIONS_MAX; i++) {
			struct p11_session *s = p11->sessions[i];

			if (s != NULL && s->slot == slotID)
				session_close_locked(s);
		}
	}
	p11_leave();
	return rv;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	struct p11_session *s;
	bool in, rw;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	p11_enter();
	in = p11_logged_in(s->slot);
	p11_leave();
	rw = p11_session_rw(s);
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->slotID = s->slot;
	pInfo->flags = s->flags;
	pInfo->ulDeviceError = 0;
	if (rw)
		pInfo->state = in ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION;
	else
		pInfo->state = in ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
out:
	p11_session_put(s);
	return rv;
}

/*
 * What every C_*Init does first: the session, no operation running, a
 * mechanism that offers flag, and the key behind hKey, of the mechanism's
 * key type. On CKR_OK the session is held (p11_session_put it) with
 * op->mech and op->key set; otherwise nothing is held, and a started
 * operation is ended, as the standard wants of a failed init.
 */
CK_RV p11_op_start(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pm, CK_OBJECT_HANDLE hKey, CK_FLAGS flag,
                   struct p11_session **out, CK_OBJECT_CLASS *cls)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_RV rv;

	if ((rv = p11_session_get(h, &s)) != CKR_OK)
		return rv;
	op = &s->op;
	if (op->kind != P11_OP_NONE || pm == NULL) {
		p11_session_put(s);
		return op->kind != P11_OP_NONE ? CKR_OPERATION_ACTIVE : CKR_ARGUMENTS_BAD;
	}
	op->mech = p11_mech_find(pm->mechanism);
	if (op->mech == NULL || !(op->mech->info.flags & flag))
		rv = CKR_MECHANISM_INVALID;
	else if ((rv = p11_key_for_handle(s, hKey, cls, &op->key)) == CKR_OK &&
	         op->key->type->ckk != op->mech->ckk)
		rv = CKR_KEY_TYPE_INCONSISTENT;
	if (rv != CKR_OK) {
		p11_op_end(op);
		p11_session_put(s);
		return rv;
	}
	*out = s;
	return CKR_OK;
}
