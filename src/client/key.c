/*
 * key.c: transit/keys — create, read, list, rotate, delete and config. Key
 * state comes back as the server's "data" object; nothing secret passes here.
 */
#include <stdlib.h>

#include "client_int.h"

/* One request on transit/keys/<name><suffix>; body is consumed. */
static int key_call(struct kw_client *c, const char *method, const char *name, const char *suffix,
                    json_t *body, bool required, json_t **out)
{
	char *path = NULL;
	int r;

	if ((r = client_name_path(c, "transit/keys/", name, suffix, &path)) != 0)
		return client_abort(c, body, r);
	r = client_do(c, method, path, body, out ? CLIENT_TAKE_DATA : CLIENT_TAKE_NONE, required,
	              out);
	free(path);
	return r;
}

int kw_client_key_create(struct kw_client *c, const char *name, const struct kw_client_key_opts *o,
                         json_t **info)
{
	json_t *body = json_object();
	int r = 0;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if (o != NULL && o->type != NULL)
		r = client_json_set_str(c, body, "type", o->type);
	if (r == 0 && o != NULL && o->exportable)
		r = client_json_set(body, "exportable", json_true());
	if (r == 0 && o != NULL && o->pkcs11_id != NULL)
		r = client_json_set_str(c, body, "pkcs11_id", o->pkcs11_id);
	if (r != 0)
		return client_abort(c, body, r);
	return key_call(c, "POST", name, "", body, false, info);
}

int kw_client_key_read(struct kw_client *c, const char *name, json_t **info)
{
	return key_call(c, "GET", name, "", NULL, true, info);
}

int kw_client_key_list(struct kw_client *c, json_t **names)
{
	return client_list(c, "transit/keys", names);
}

int kw_client_key_rotate(struct kw_client *c, const char *name, json_t **info)
{
	return key_call(c, "POST", name, "/rotate", NULL, false, info);
}

int kw_client_key_delete(struct kw_client *c, const char *name)
{
	return key_call(c, "DELETE", name, "", NULL, false, NULL);
}

static int key_config_body(const struct kw_client_key_config *cfg, json_t *body)
{
	int r = 0;

	if (cfg->set_deletion_allowed)
		r = client_json_set(body, "deletion_allowed", json_boolean(cfg->deletion_allowed));
	if (r == 0 && cfg->set_min_decryption_version)
		r = client_json_set(body, "min_decryption_version",
		                    json_integer(cfg->min_decryption_version));
	if (r == 0 && cfg->set_exportable)
		r = client_json_set(body, "exportable", json_true());
	return r;
}

int kw_client_key_config(struct kw_client *c, const char *name,
                         const struct kw_client_key_config *cfg, json_t **info)
{
	json_t *body = json_object();
	int r;

	if (body == NULL)
		return client_abort(c, NULL, KW_ERR_NOMEM);
	if ((r = key_config_body(cfg, body)) != 0)
		return client_abort(c, body, r);
	return key_call(c, "POST", name, "/config", body, false, info);
}
