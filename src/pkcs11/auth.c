/*
 * auth.c: logging in without a PIN. With kubernetes_role configured the
 * module reads the pod's projected service-account token and exchanges it at
 * POST /v1/auth/<mount>/login for a keyward token whose lease it keeps;
 * otherwise the token comes from token_file or KEYWARD_TOKEN. slots.c renews
 * such a login before the lease ends (RENEW_NUM/RENEW_DEN of it), when the
 * file changes (kubelet rotates projected tokens well before they expire),
 * and when the server calls the token bad.
 *
 * Secrets: the service-account JWT and the keyward token live in malloc'd
 * buffers wiped before free; only the file's SHA-256 is kept, to tell a
 * rotation from a touch. Debug lines name the file and the mount, never a
 * token.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "pkcs11_int.h"

/* Log in again when this much of the lease has passed: late enough not to
 * hammer the server, early enough to absorb a slow or failed attempt. */
#define RENEW_NUM 2
#define RENEW_DEN 3

int64_t p11_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void secret_free(char *s)
{
	if (s == NULL)
		return;
	kw_wipe(s, strlen(s));
	free(s);
}

void p11_login_cleanup(struct p11_login *l)
{
	secret_free(l->token);
	memset(l, 0, sizeof(*l));
}

const char *p11_auth_file(const struct p11_server *srv)
{
	if (srv->k8s_role != NULL)
		return srv->sa_token_file;
	return srv->token_file;
}

static bool stamp_same(const struct p11_stamp *a, const struct stat *st)
{
	return a->set && a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
	       a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void stamp_fill(struct p11_stamp *out, const struct stat *st, const uint8_t *digest)
{
	out->set = true;
	out->dev = st->st_dev;
	out->ino = st->st_ino;
	out->size = st->st_size;
	out->mtime = st->st_mtim;
	memcpy(out->digest, digest, sizeof(out->digest));
}

/* The file's text (trailing newlines cut) and its stamp. The stat comes
 * first: a rotation between the two shows up as a change next time. */
static int cred_read(const char *path, size_t max, char **out, struct p11_stamp *st)
{
	struct stat sb;
	uint8_t digest[32];
	unsigned dlen = 0;
	char *t = NULL;
	size_t n;
	int r;

	if (stat(path, &sb) != 0)
		return errno == ENOENT ? KW_ERR_NOT_FOUND : KW_ERR_IO;
	if ((r = p11_file_read(path, max, &t)) != 0)
		return r;
	n = strlen(t);
	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		t[--n] = '\0';
	if (n == 0) {
		secret_free(t);
		return KW_ERR_INVALID;
	}
	if (!EVP_Digest(t, n, digest, &dlen, EVP_sha256(), NULL)) {
		secret_free(t);
		return KW_ERR_CRYPTO;
	}
	stamp_fill(st, &sb, digest);
	*out = t;
	return 0;
}

bool p11_auth_file_changed(const char *path, struct p11_stamp *st)
{
	struct p11_stamp now = {0};
	struct stat sb;
	char *t = NULL;
	bool changed;

	/* A file that cannot be read now is not a reason to drop a good login;
	 * the server will say when the token stops working. */
	if (stat(path, &sb) != 0 || stamp_same(st, &sb))
		return false;
	if (cred_read(path, P11_JWT_MAX, &t, &now) != 0)
		return false;
	secret_free(t);
	changed = memcmp(now.digest, st->digest, sizeof(now.digest)) != 0;
	if (!changed)
		*st = now;
	return changed;
}

/* The lease in the login reply, as the monotonic time to renew. */
static int64_t renew_time(const json_t *auth)
{
	json_int_t lease = json_integer_value(json_object_get(auth, "lease_duration"));
	int64_t ms;

	if (lease <= 0)
		return 0;
	ms = (int64_t)lease * 1000 * RENEW_NUM / RENEW_DEN;
	return p11_now_ms() + (ms < P11_RENEW_MIN_MS ? P11_RENEW_MIN_MS : ms);
}

static CK_RV k8s_login(struct kw_client *base, const struct p11_server *srv, struct p11_login *out)
{
	struct kw_client *c = NULL;
	json_t *auth = NULL;
	const char *tok;
	char *jwt = NULL;
	CK_RV rv = CKR_OK;
	int r;

	r = cred_read(srv->sa_token_file, P11_JWT_MAX, &jwt, &out->stamp);
	if (r != 0) {
		p11_debug("service-account token '%.200s' unreadable (%s)", srv->sa_token_file,
		          kw_err_str(r));
		return r == KW_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
	}
	/* A handle of our own, without a token: a login carries none. */
	if (kw_client_dup(base, &c) != 0 || kw_client_set_token(c, NULL) != 0) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	r = kw_client_jwt_login(c, srv->k8s_mount, srv->k8s_role, jwt, &auth);
	if (r != 0) {
		p11_debug("kubernetes login at '%.64s' as role '%.64s' refused (%s)",
		          srv->k8s_mount, srv->k8s_role, kw_client_error_code(c));
		rv = (r == KW_ERR_AUTH || r == KW_ERR_DENIED || r == KW_ERR_INVALID ||
		      r == KW_ERR_NOT_FOUND)
		         ? CKR_PIN_INCORRECT
		         : p11_rv(r);
		goto out;
	}
	if (kw_client_json_string(auth, "client_token", &tok) != 0 || *tok == '\0') {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	if ((out->token = strdup(tok)) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	out->renew_ms = renew_time(auth);
out:
	secret_free(jwt);
	kw_client_json_free(auth);
	kw_client_free(c);
	return rv;
}

static CK_RV plain_token(const struct p11_server *srv, struct p11_login *out)
{
	int r;

	if (srv->token_file != NULL) {
		/* Read again at every login: rotated tokens replace the file. */
		r = cred_read(srv->token_file, KW_CLIENT_TOKEN_MAX + 2, &out->token, &out->stamp);
		if (r != 0)
			p11_debug("token file '%.200s' unreadable (%s)", srv->token_file,
			          kw_err_str(r));
		return r == 0 ? CKR_OK : r == KW_ERR_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
	}
	if (srv->token == NULL)
		return CKR_PIN_INCORRECT; /* nothing configured: an empty PIN is wrong */
	if ((out->token = strdup(srv->token)) == NULL)
		return CKR_HOST_MEMORY;
	return CKR_OK;
}

CK_RV p11_auth_login(struct kw_client *base, const struct p11_server *srv, struct p11_login *out)
{
	struct p11_login l = {0};
	CK_RV rv;

	rv = srv->k8s_role != NULL ? k8s_login(base, srv, &l) : plain_token(srv, &l);
	if (rv != CKR_OK) {
		p11_login_cleanup(&l);
		return rv;
	}
	*out = l;
	return CKR_OK;
}
