/*
 * p11ops.c: keyward's own operations for PKCS#11 (docs/api.md, "keyward
 * operations for PKCS#11") — raw RSA signing, RSA decryption, ECDH derive,
 * AES modes, key wrap and unwrap, and the public object store. Bodies may
 * carry plaintext or key material in transit; client_do wipes them, and
 * kw_client_json_free() wipes the replies.
 */
#include <stdlib.h>

#include "client_int.h"

/* Optional fields: NULL strings and empty byte strings are left out. */
static int set_opt_str(struct kw_client *c, json_t *b, const char *k, const char *v)
{
	return v == NULL ? 0 : client_json_set_str(c, b, k, v);
}

static int set_opt_b64(json_t *b, const char *k, const uint8_t *p, size_t n)
{
	return p == NULL ? 0 : client_json_set_b64(b, k, p, n);
}

int kw_client_sign_raw(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                       json_t **data)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "input", in, len)) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "keyward/sign-raw/", name, body, data);
}

int kw_client_rsa_decrypt(struct kw_client *c, const char *name, const uint8_t *ct, size_t len,
                          const struct kw_client_rsa_opts *o, json_t **data)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "ciphertext", ct, len)) != 0 ||
	    (r = set_opt_str(c, body, "padding", o->padding)) != 0 ||
	    (r = set_opt_str(c, body, "hash", o->hash)) != 0 ||
	    (r = set_opt_str(c, body, "mgf_hash", o->mgf_hash)) != 0 ||
	    (r = set_opt_b64(body, "label", o->label, o->label_len)) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "keyward/decrypt/", name, body, data);
}

/* derived_name, derived_type, pkcs11_id: what derive and unwrap create. */
static int set_new_key(struct kw_client *c, json_t *b, const struct kw_client_new_key *k)
{
	int r;

	if ((r = client_json_set_str(c, b, "derived_name", k->name)) != 0 ||
	    (r = client_json_set_str(c, b, "derived_type", k->type)) != 0 ||
	    (r = set_opt_str(c, b, "pkcs11_id", k->pkcs11_id)) != 0)
		return r;
	return 0;
}

int kw_client_derive(struct kw_client *c, const char *name, const struct kw_client_derive_opts *o,
                     json_t **info)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "peer_public_key", o->peer, o->peer_len)) != 0 ||
	    (r = set_new_key(c, body, &o->key)) != 0 ||
	    (r = set_opt_str(c, body, "kdf", o->kdf)) != 0 ||
	    (r = set_opt_b64(body, "shared_info", o->shared_info, o->shared_info_len)) != 0 ||
	    (o->key_size != 0 &&
	     (r = client_json_set(body, "key_size", json_integer(o->key_size))) != 0) ||
	    (o->exportable && (r = client_json_set(body, "exportable", json_true())) != 0))
		return client_abort(c, body, r);
	return client_post_named(c, "keyward/derive/", name, body, info);
}

int kw_client_cipher(struct kw_client *c, const char *name, const uint8_t *in, size_t len,
                     const struct kw_client_cipher_opts *o, json_t **data)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_str(c, body, "operation", o->decrypt ? "decrypt" : "encrypt")) !=
	        0 ||
	    (r = client_json_set_str(c, body, "mode", o->mode)) != 0 ||
	    (r = client_json_set_b64(body, "input", in, len)) != 0 ||
	    (r = set_opt_b64(body, "iv", o->iv, o->iv_len)) != 0 ||
	    (r = set_opt_b64(body, "aad", o->aad, o->aad_len)) != 0 ||
	    (o->tag_bits != 0 &&
	     (r = client_json_set(body, "tag_bits", json_integer(o->tag_bits))) != 0))
		return client_abort(c, body, r);
	return client_post_named(c, "keyward/cipher/", name, body, data);
}

int kw_client_wrap(struct kw_client *c, const char *name, const char *key, const char *mode,
                   json_t **data)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_str(c, body, "key", key)) != 0 ||
	    (r = set_opt_str(c, body, "mode", mode)) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "keyward/wrap/", name, body, data);
}

int kw_client_unwrap(struct kw_client *c, const char *name, const uint8_t *wrapped, size_t len,
                     const char *mode, const struct kw_client_new_key *k, json_t **info)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_b64(body, "wrapped", wrapped, len)) != 0 ||
	    (r = set_opt_str(c, body, "mode", mode)) != 0 || (r = set_new_key(c, body, k)) != 0)
		return client_abort(c, body, r);
	return client_post_named(c, "keyward/unwrap/", name, body, info);
}

/* ---- keyward/objects --------------------------------------------------- */

int kw_client_object_put(struct kw_client *c, const char *name, const struct kw_client_object *o)
{
	json_t *body = json_object();
	char *path = NULL;
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = client_json_set_str(c, body, "class", o->cls)) != 0 ||
	    (r = set_opt_str(c, body, "key", o->key)) != 0 ||
	    (r = set_opt_str(c, body, "id", o->id_hex)) != 0 ||
	    (r = set_opt_str(c, body, "label", o->label)) != 0 ||
	    (r = set_opt_b64(body, "value", o->value, o->value_len)) != 0 ||
	    (o->attributes != NULL &&
	     (r = client_json_set(body, "attributes", json_deep_copy(o->attributes))) != 0))
		return client_abort(c, body, r);
	if ((r = client_name_path(c, "keyward/objects/", name, "", &path)) != 0)
		return client_abort(c, body, r);
	r = client_do(c, "PUT", path, body, CLIENT_TAKE_NONE, false, NULL);
	free(path);
	return r;
}

int kw_client_object_get(struct kw_client *c, const char *name, json_t **data)
{
	char *path = NULL;
	int r;

	if ((r = client_name_path(c, "keyward/objects/", name, "", &path)) != 0)
		return r;
	r = client_do(c, "GET", path, NULL, CLIENT_TAKE_DATA, true, data);
	free(path);
	return r;
}

int kw_client_object_delete(struct kw_client *c, const char *name)
{
	char *path = NULL;
	int r;

	if ((r = client_name_path(c, "keyward/objects/", name, "", &path)) != 0)
		return r;
	r = client_do(c, "DELETE", path, NULL, CLIENT_TAKE_NONE, false, NULL);
	free(path);
	return r;
}

int kw_client_object_list(struct kw_client *c, json_t **names)
{
	return client_list(c, "keyward/objects", names);
}
