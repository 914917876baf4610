/*
 * module.c: the module's life cycle and its front door — C_Initialize,
 * C_Finalize, C_GetInfo, C_GetFunctionList, v3.0's C_GetInterfaceList and
 * C_GetInterface — plus the module lock, the KW_ERR_* -> CK_RV table and the
 * functions this phase does not offer (token and PIN administration, state
 * save/restore, dual-function and parallel calls).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include "pkcs11_int.h"

struct p11_state *p11;

/* C_Initialize and C_Finalize may race each other; nothing else runs then. */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* Caller-supplied mutex functions (CK_C_INITIALIZE_ARGS) or pthread. When the
 * caller gives functions without CKF_OS_LOCKING_OK we must use theirs (v2.40
 * 5.4, case 3); with the flag, or with none, our own are fine. */
static struct {
	bool caller;
	CK_CREATEMUTEX create;
	CK_DESTROYMUTEX destroy;
	CK_LOCKMUTEX lock;
	CK_UNLOCKMUTEX unlock;
} lockfns;

struct p11_lock {
	pthread_mutex_t m;
	void *caller;
};

int p11_lock_new(struct p11_lock **out)
{
	struct p11_lock *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return KW_ERR_NOMEM;
	if (lockfns.caller ? lockfns.create(&l->caller) != CKR_OK
	                   : pthread_mutex_init(&l->m, NULL) != 0) {
		free(l);
		return KW_ERR_NOMEM;
	}
	*out = l;
	return 0;
}

void p11_lock_free(struct p11_lock *l)
{
	if (l == NULL)
		return;
	if (lockfns.caller)
		lockfns.destroy(l->caller);
	else
		pthread_mutex_destroy(&l->m);
	free(l);
}

void p11_lock(struct p11_lock *l)
{
	if (lockfns.caller)
		(void)lockfns.lock(l->caller);
	else
		pthread_mutex_lock(&l->m);
}

void p11_unlock(struct p11_lock *l)
{
	if (lockfns.caller)
		(void)lockfns.unlock(l->caller);
	else
		pthread_mutex_unlock(&l->m);
}

void p11_debug(const char *fmt, ...)
{
	static int enabled = -1;
	va_list ap;

	/* Off unless asked: the module lives in someone else's stderr. Callers
	 * pass names and codes only, never tokens or data. */
	if (enabled < 0)
		enabled = getenv("KEYWARD_PKCS11_DEBUG") != NULL;
	if (!enabled)
		return;
	va_start(ap, fmt);
	fputs("keyward-pkcs11: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

CK_RV p11_rv(int err)
{
	static const struct {
		int err;
		CK_RV rv;
	} table[] = {
	    {0, CKR_OK},
	    {KW_ERR_NOMEM, CKR_HOST_MEMORY},
	    {KW_ERR_AUTH, CKR_USER_NOT_LOGGED_IN},
	    {KW_ERR_DENIED, CKR_KEY_FUNCTION_NOT_PERMITTED},
	    {KW_ERR_KEY_TYPE, CKR_KEY_TYPE_INCONSISTENT},
	    {KW_ERR_NOT_FOUND, CKR_KEY_HANDLE_INVALID},
	    {KW_ERR_DECRYPT, CKR_ENCRYPTED_DATA_INVALID},
	    {KW_ERR_TOO_LARGE, CKR_DATA_LEN_RANGE},
	    {KW_ERR_LIMIT, CKR_DATA_LEN_RANGE},
	    {KW_ERR_UNSUPPORTED, CKR_MECHANISM_INVALID},
	    {KW_ERR_SEALED, CKR_DEVICE_ERROR},
	    {KW_ERR_NOT_INIT, CKR_DEVICE_ERROR},
	    {KW_ERR_UNAVAILABLE, CKR_DEVICE_ERROR},
	    {KW_ERR_IO, CKR_DEVICE_ERROR},
	    {KW_ERR_IPC, CKR_DEVICE_ERROR},
	    {KW_ERR_INTEGRITY, CKR_DEVICE_ERROR},
	    {KW_ERR_SELFTEST, CKR_DEVICE_ERROR},
	    {KW_ERR_CRYPTO, CKR_DEVICE_ERROR},
	    {KW_ERR_STORE, CKR_DEVICE_ERROR},
	};

	for (size_t i = 0; i < KW_ARRAY_LEN(table); i++)
		if (table[i].err == err)
			return table[i].rv;
	return CKR_FUNCTION_FAILED;
}

CK_RV p11_out_check(CK_BYTE_PTR out, CK_ULONG_PTR outlen, size_t need)
{
	CK_ULONG have = *outlen;

	*outlen = need;
	if (out == NULL)
		return CKR_OK;
	return have < need ? CKR_BUFFER_TOO_SMALL : CKR_OK;
}

/*
 * The process id, cached: every entry point compares it with the state's,
 * several times per C_Sign, and getpid() is a system call. A fork clears the
 * cache in the child (pthread_atfork; glibc drops the handler if the module
 * is unloaded), so a child still sees its own pid and a state that is not
 * its own.
 */
static _Atomic pid_t pid_cache;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_forget(void)
{
	pid_cache = 0;
}

static void pid_once_init(void)
{
	(void)pthread_atfork(NULL, NULL, pid_forget);
}

static pid_t p11_pid(void)
{
	pid_t p = pid_cache;

	if (p == 0) {
		pthread_once(&pid_once, pid_once_init);
		p = getpid();
		pid_cache = p;
	}
	return p;
}

CK_RV p11_enter(void)
{
	struct p11_state *st = p11;

	if (st == NULL || st->pid != p11_pid())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	p11_lock(st->lock);
	return CKR_OK;
}

void p11_leave(void)
{
	p11_unlock(p11->lock);
}

static CK_RV init_args_check(const CK_C_INITIALIZE_ARGS *a)
{
	unsigned given;

	if (a == NULL) {
		lockfns.caller = false;
		return CKR_OK;
	}
	if (a->pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	given = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) +
	        (a->UnlockMutex != NULL);
	/* All four or none (v2.40 5.4 C_Initialize). */
	if (given != 0 && given != 4)
		return CKR_ARGUMENTS_BAD;
	lockfns.caller = given == 4 && !(a->flags & CKF_OS_LOCKING_OK);
	lockfns.create = a->CreateMutex;
	lockfns.destroy = a->DestroyMutex;
	lockfns.lock = a->LockMutex;
	lockfns.unlock = a->UnlockMutex;
	return CKR_OK;
}

static void state_free(struct p11_state *st)
{
	for (size_t i = 0; i < P11_SESSIONS_MAX; i++) {
		struct p11_session *s = st->sessions[i];

		if (s == NULL)
			continue;
		p11_op_end(&s->op);
		p11_lock_free(s->lock);
		free(s);
	}
	p11_objects_free(st);
	p11_slots_close(st);
	p11_conf_cleanup(&st->conf);
	p11_lock_free(st->lock);
	free(st);
}

static CK_RV state_new(struct p11_state **out)
{
	struct p11_state *st = calloc(1, sizeof(*st));
	CK_RV rv = CKR_HOST_MEMORY;
	int r;

	if (st == NULL)
		return CKR_HOST_MEMORY;
	st->pid = p11_pid();
	if (p11_lock_new(&st->lock) != 0)
		goto out;
	if ((r = p11_conf_load(&st->conf)) != 0) {
		p11_debug("configuration refused (%s)", kw_err_str(r));
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if ((r = p11_slots_open(st)) != 0) {
		p11_debug("client setup failed (%s)", kw_err_str(r));
		rv = r == KW_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR;
		goto out;
	}
	*out = st;
	return CKR_OK;
out:
	state_free(st);
	return rv;
}

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
	struct p11_state *st = NULL;
	CK_RV rv;

	pthread_mutex_lock(&init_lock);
	if (p11 != NULL && p11->pid == p11_pid()) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	/* A forked child: the parent's state is abandoned, not freed, since
	 * freeing would close connections the parent still uses. */
	p11 = NULL;
	if ((rv = init_args_check(pInitArgs)) != CKR_OK)
		goto out;
	if ((rv = state_new(&st)) != CKR_OK)
		goto out;
	p11 = st;
out:
	pthread_mutex_unlock(&init_lock);
	return rv;
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
	struct p11_state *st;
	CK_RV rv = CKR_OK;

	if (pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&init_lock);
	st = p11;
	if (st == NULL || st->pid != p11_pid()) {
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		goto out;
	}
	p11 = NULL;
	state_free(st);
out:
	pthread_mutex_unlock(&init_lock);
	return rv;
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	if (pInfo == NULL) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = 2;
	pInfo->cryptokiVersion.minor = 40;
	p11_fill_padded(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
	p11_fill_padded(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
	                P11_LIB_DESCRIPTION);
	pInfo->libraryVersion.major = 0;
	pInfo->libraryVersion.minor = 1;
out:
	p11_leave();
	return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &p11_function_list;
	return CKR_OK;
}

static CK_INTERFACE interfaces[] = {
    {(CK_CHAR *)"PKCS 11", &p11_function_list, 0},
};

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount);
CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags);

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	CK_ULONG have;

	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	have = *pulCount;
	*pulCount = KW_ARRAY_LEN(interfaces);
	if (pInterfacesList == NULL)
		return CKR_OK;
	if (have < KW_ARRAY_LEN(interfaces))
		return CKR_BUFFER_TOO_SMALL;
	memcpy(pInterfacesList, interfaces, sizeof(interfaces));
	return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	/* Only the v2.40 list is offered, so a request for another version or
	 * for fork-safety (the caller must re-initialise in a child) fails. */
	if (pInterfaceName != NULL && strcmp((const char *)pInterfaceName, "PKCS 11") != 0)
		return CKR_ARGUMENTS_BAD;
	if (pVersion != NULL && (pVersion->major != 2 || pVersion->minor != 40))
		return CKR_ARGUMENTS_BAD;
	if (flags & ~interfaces[0].flags)
		return CKR_ARGUMENTS_BAD;
	*ppInterface = &interfaces[0];
	return CKR_OK;
}

/* ---- not offered in this phase ---------------------------------------- */

/* Checks shared by the stubs: initialised, then the session handle. */
static CK_RV stub_session(CK_SESSION_HANDLE h, CK_RV rv)
{
	struct p11_session *s;
	CK_RV r = p11_session_get(h, &s);

	if (r != CKR_OK)
		return r;
	p11_session_put(s);
	return rv;
}

CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                  CK_UTF8CHAR_PTR pLabel)
{
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	rv = p11_slot_check(slotID);
	p11_leave();
	/* A keyward server is initialised with `keyward operator init`. */
	return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
               CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	/* The PIN is a keyward token; tokens are issued, not changed. */
	return stub_session(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG_PTR pulOperationStateLen)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                          CK_OBJECT_HANDLE hAuthenticationKey)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                            CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                            CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                          CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                            CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_PARALLEL);
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
	return stub_session(hSession, CKR_FUNCTION_NOT_PARALLEL);
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
	CK_RV rv;

	if ((rv = p11_enter()) != CKR_OK)
		return rv;
	p11_leave();
	/* Network tokens are never inserted or removed. */
	return (flags & CKF_DONT_BLOCK) ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	/* The server's generator takes no seed from clients. */
	return stub_session(hSession, CKR_RANDOM_SEED_NOT_SUPPORTED);
}
