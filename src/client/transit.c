/*
 * transit.c: encrypt, decrypt, sign, verify and hmac on a named key. Inputs
 * are raw bytes, base64-encoded into the request body here; the body (it may
 * hold plaintext) is wiped when released, and so is the reply.
 */
#include <stdlib.h>

#include "client_int.h"

int client_post_named(struct kw_client *c, const char *op, const char *name, json_t *body,
                      json_t **data)
{
	char *path = NULL;
	int r;

	if ((r = client_name_path(c, op, name, "", &path)) != 0)
		return client_abort(c, body, r);
	r = client_do(c, "POST", path, body, CLIENT_TAKE_DATA, true, data);
	free(path);
	return r;
}

static int crypt_opts_set(json_t *body, const struct kw_client_crypt_opts *o, bool version)
{
	int r = 0;

	if (o == NULL)
		return 0;
	if (version && o->key_version != 0)
		r = client_json_set(body, "key_version", json_integer(o->key_version));
	if (r == 0 && o->aad != NULL)
		r = client_json_set_b64(body, "associated_data", o->aad, o->aad_len);
	return r;
}

int kw_client_encrypt(struct kw_client *c, const char *name, const uint8_t *pt, size_t len,
                      const struct kw_client_crypt_opts *o, json_t **data)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "plaintext", pt, len)) != 0 ||
	    (r = crypt_opts_set(body, o, true)) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "transit/encrypt/", name, body, data);
}

int kw_client_decrypt(struct kw_client *c, const char *name, const char *ciphertext,
                      const struct kw_client_crypt_opts *o, json_t **data)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	/* The version is in the ciphertext's vault:vN: prefix. */
	if ((r = client_json_set_str(c, body, "ciphertext", ciphertext)) != 0 ||
	    (r = crypt_opts_set(body, o, false)) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "transit/decrypt/", name, body, data);
}

static int sign_opts_set(struct kw_client *c, json_t *body, const struct kw_client_sign_opts *o)
{
	int r = 0;

	if (o == NULL)
		return 0;
	if (o->hash != NULL)
		r = client_json_set_str(c, body, "hash_algorithm", o->hash);
	if (r == 0 && o->signature_algorithm != NULL)
		r = client_json_set_str(c, body, "signature_algorithm", o->signature_algorithm);
	if (r == 0 && o->marshaling_algorithm != NULL)
		r = client_json_set_str(c, body, "marshaling_algorithm", o->marshaling_algorithm);
	if (r == 0 && o->prehashed)
		r = client_json_set(body, "prehashed", json_true());
	if (r == 0 && o->key_version != 0)
		r = client_json_set(body, "key_version", json_integer(o->key_version));
	return r;
}

int kw_client_sign(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                   const struct kw_client_sign_opts *o, json_t **data)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "input", in, len)) != 0 ||
	    (r = sign_opts_set(c, body, o)) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "transit/sign/", name, body, data);
}

int kw_client_verify(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                     const char *signature, const struct kw_client_sign_opts *o, json_t **data)
{
	json_t *body = json_object();
	const char *field = (o != NULL && o->hmac) ? "hmac" : "signature";
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "input", in, len)) != 0 ||
	    (r = client_json_set_str(c, body, field, signature)) != 0 ||
	    (r = sign_opts_set(c, body, o)) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "transit/verify/", name, body, data);
}

int kw_client_hmac(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                   const struct kw_client_sign_opts *o, json_t **data)
{
	json_t *body = json_object();
	int r = 0;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "input", in, len)) == 0 && o != NULL) {
		/* Vault names the hash "algorithm" here, "hash_algorithm" elsewhere. */
		if (o->hash != NULL)
			r = client_json_set_str(c, body, "algorithm", o->hash);
		if (r == 0 && o->key_version != 0)
			r = client_json_set(body, "key_version", json_integer(o->key_version));
	}
	if (r != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "transit/hmac/", name, body, data);
}

int kw_client_sign_pss(struct kw_client *c, const char *name, const uint8_t *digest, size_t len,
                       const char *hash, unsigned salt_length, json_t **data)
{
	struct kw_client_sign_opts o = {
	    .hash = hash, .signature_algorithm = "pss", .prehashed = true};
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "input", digest, len)) != 0 ||
	    (r = sign_opts_set(c, body, &o)) != 0 ||
	    (r = client_json_set(body, "salt_length", json_integer(salt_length))) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "transit/sign/", name, body, data);
}

int kw_client_random(struct kw_client *c, size_t n, uint8_t **out)
{
	json_t *body = json_object();
	json_t *data = NULL;
	uint8_t *bytes = NULL;
	size_t len = 0;
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if (n == 0 || n > KW_CLIENT_RANDOM_MAX)
		return client_abort(c, body, KW_ERR_INVALID);
	if ((r = client_json_set(body, "bytes", json_integer((json_int_t)n))) != 0)
		return client_abort(c, body, r);
	if ((r = client_do(c, "POST", "transit/random", body, CLIENT_TAKE_DATA, true, &data)) != 0)
		return r;
	if ((r = kw_client_json_bytes(data, "random_bytes", &bytes, &len)) != 0)
		goto out;
	if (len != n) {
		r = KW_ERR_INVALID;
		goto out;
	}
	*out = bytes;
	bytes = NULL;
out:
	if (bytes != NULL) {
		kw_wipe(bytes, len);
		free(bytes);
	}
	kw_client_json_free(data);
	return r;
}
