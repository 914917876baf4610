/*
 * http.c: one request on a handle's easy handle: method and body, the retry
 * rule, the reply read into a wiping buffer, and the translation of error
 * replies and transport failures into a KW_ERR_*, a stable code and a
 * sentence (the one table for that translation is here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

struct rx {
	struct kw_buf buf;
	bool too_large;
};

static size_t rx_write(char *p, size_t size, size_t n, void *userp)
{
	struct rx *rx = userp;
	size_t len = size * n;

	if (len > KW_CLIENT_REPLY_MAX - rx->buf.len) {
		rx->too_large = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	if (kw_buf_append(&rx->buf, p, len) != 0)
		return 0;
	return len;
}

/* --- error translation --------------------------------------------------- */

int client_err_from_status(long status)
{
	switch (status) {
	case 400:
		return KW_ERR_INVALID;
	case 401:
		return KW_ERR_AUTH;
	case 403:
		return KW_ERR_DENIED;
	case 404:
		return KW_ERR_NOT_FOUND;
	case 405:
		return KW_ERR_UNSUPPORTED;
	case 409:
		return KW_ERR_EXISTS;
	case 413:
		return KW_ERR_TOO_LARGE;
	case 429:
		return KW_ERR_UNAVAILABLE; /* Vault: standby node, or rate limited */
	case 501:
		return KW_ERR_NOT_INIT;
	case 502:
	case 504:
		return KW_ERR_UNAVAILABLE;
	case 503:
		return KW_ERR_SEALED; /* Vault answers 503 while sealed */
	default:
		return (status >= 400 && status < 500) ? KW_ERR_INVALID : KW_ERR_INTERNAL;
	}
}

int client_err_from_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OUT_OF_MEMORY:
		return KW_ERR_NOMEM;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_PEER_FAILED_VERIFICATION:
		/* Settings a person must fix; trying again will not help. */
		return KW_ERR_CONFIG;
	default:
		return KW_ERR_UNAVAILABLE;
	}
}

bool client_should_retry(const char *method, CURLcode rc)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "LIST") != 0)
		return false;
	/* Failures before the server could have answered: typically a kept-alive
	 * connection the server closed while idle, or a daemon restarting. */
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
	       rc == CURLE_GOT_NOTHING;
}

void client_text_sanitize(char *dst, size_t dstlen, const char *s)
{
	static const char ellipsis[] = "...";
	size_t w = 0;
	bool space = true; /* drops leading blanks */
	bool cut = false;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		/* Vault's multi-line "1 error occurred:\n\t* ..." becomes one line. */
		if (ch == '\n' || ch == '\r' || ch == '\t' || ch == ' ') {
			if (space)
				continue;
			ch = ' ';
			space = true;
		} else {
			if (ch < 0x20 || ch == 0x7f)
				ch = '?';
			space = false;
		}
		if (w + 1 >= dstlen) {
			cut = true;
			break;
		}
		dst[w++] = (char)ch;
	}
	while (w > 0 && dst[w - 1] == ' ')
		w--;
	if (cut && dstlen > sizeof(ellipsis)) {
		if (w > dstlen - sizeof(ellipsis))
			w = dstlen - sizeof(ellipsis);
		memcpy(dst + w, ellipsis, sizeof(ellipsis) - 1);
		w += sizeof(ellipsis) - 1;
	}
	dst[w] = '\0';
}

static bool code_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= KW_CLIENT_CODE_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static void error_join(const json_t *errors, struct client_error *out)
{
	char joined[KW_CLIENT_ERROR_MAX * 2] = "";
	size_t used = 0, i;
	const json_t *e;

	json_array_foreach(errors, i, e)
	{
		const char *s = json_string_value(e);
		int n;

		if (s == NULL || *s == '\0')
			continue;
		n = snprintf(joined + used, sizeof(joined) - used, "%s%s", used ? "; " : "", s);
		if (n < 0 || (size_t)n >= sizeof(joined) - used) {
			used = sizeof(joined) - 1;
			break;
		}
		used += (size_t)n;
	}
	client_text_sanitize(out->msg, sizeof(out->msg), joined);
}

void client_error_parse(long status, const json_t *body, struct client_error *out)
{
	const json_t *errors = json_object_get(body, "errors");
	const char *code = json_string_value(json_object_get(body, "code"));

	memset(out, 0, sizeof(*out));
	out->err = client_err_from_status(status);
	snprintf(out->code, sizeof(out->code), "%s", kw_err_code(out->err));
	if (code != NULL && code_valid(code)) {
		int err = kw_err_from_code(code);

		/* A code this build does not know keeps its text; the KW_ERR_*
		 * still comes from the status. */
		snprintf(out->code, sizeof(out->code), "%s", code);
		if (strcmp(kw_err_code(err), code) == 0)
			out->err = err;
	}
	if (json_is_array(errors))
		error_join(errors, out);
	if (out->msg[0] == '\0')
		snprintf(out->msg, sizeof(out->msg), "the server answered HTTP %ld", status);
}

/* --- one request ----------------------------------------------------------- */

static bool method_has_body(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
}

static int method_set(CURL *h, const char *method, const char *body, size_t len)
{
	CURLcode rc;

	if (method_has_body(method)) {
		rc = curl_easy_setopt(h, CURLOPT_POST, 1L);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		rc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	/* GET and POST are curl's own; others ride on them as a custom verb. */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(
		    h, CURLOPT_CUSTOMREQUEST,
		    (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0) ? NULL : method);
	return rc == CURLE_OK ? 0 : KW_ERR_INTERNAL;
}

static bool method_known(const char *method)
{
	static const char *const known[] = {"GET", "LIST", "POST", "PUT", "DELETE"};

	for (size_t i = 0; i < KW_ARRAY_LEN(known); i++)
		if (strcmp(method, known[i]) == 0)
			return true;
	return false;
}

static bool path_valid(const char *path)
{
	if (*path == '\0' || *path == '/')
		return false;
	for (; *path != '\0'; path++)
		if ((unsigned char)*path <= 0x20 || (unsigned char)*path >= 0x7f)
			return false;
	return true;
}

static void transport_fail(struct kw_client *c, CURLcode rc, const struct rx *rx)
{
	const struct client_pool *p = c->pool;
	const char *detail = c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc);
	int err = client_err_from_curl(rc);
	/* "Unreachable" only when it is; a refused certificate is a setting. */
	const char *verb = err == KW_ERR_CONFIG ? "cannot use" : "cannot reach";

	if (rx->too_large)
		client_fail(c, KW_ERR_TOO_LARGE, "the server's reply is larger than %u MiB",
		            KW_CLIENT_REPLY_MAX >> 20);
	else if (p->unix_path != NULL)
		client_fail(c, err, "%s unix:%s: %s", verb, p->unix_path, detail);
	else
		client_fail(c, err, "%s %s: %s", verb, p->base_url, detail);
}

static int perform_retrying(struct kw_client *c, const char *method, struct rx *rx)
{
	CURLcode rc;

	for (int attempt = 0;; attempt++) {
		kw_buf_reset(&rx->buf);
		rx->too_large = false;
		c->curl_error[0] = '\0';
		rc = curl_easy_perform(c->curl);
		if (rc == CURLE_OK)
			return 0;
		if (attempt > 0 || !client_should_retry(method, rc))
			break;
	}
	transport_fail(c, rc, rx);
	return rx->too_large ? KW_ERR_TOO_LARGE : client_err_from_curl(rc);
}

static int request_set(struct kw_client *c, const char *method, const char *url, struct rx *rx,
                       const char *body, size_t len)
{
	CURLcode rc = curl_easy_setopt(c->curl, CURLOPT_URL, url);

	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, rx_write);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, rx);
	if (rc != CURLE_OK)
		return KW_ERR_INTERNAL;
	return method_set(c->curl, method, body, len);
}

static void reply_parse(const struct rx *rx, struct client_reply *out)
{
	json_error_t jerr;

	out->body = NULL;
	out->not_json = false;
	if (rx->buf.len > 0) {
		out->body = json_loadb((const char *)rx->buf.data, rx->buf.len,
		                       JSON_REJECT_DUPLICATES, &jerr);
		out->not_json = out->body == NULL;
	}
}

int client_perform(struct kw_client *c, const char *method, const char *path, const json_t *body,
                   struct client_reply *out)
{
	struct rx rx = {.too_large = false};
	struct kw_buf json;
	char *url = NULL;
	int r;

	client_clear_error(c);
	kw_buf_init(&rx.buf);
	kw_buf_init(&json);
	if (!method_known(method) || !path_valid(path) || (body && !method_has_body(method))) {
		client_fail(c, KW_ERR_INVALID, "bad request: %s %s", method, path);
		return KW_ERR_INVALID;
	}
	if ((r = client_url_build(c->pool->base_url, path, &url)) != 0)
		goto out;
	if (body != NULL && (r = client_json_dump(body, JSON_COMPACT, &json)) != 0)
		goto out;
	if ((r = request_set(c, method, url, &rx, (const char *)json.data, json.len)) != 0)
		goto out;
	if ((r = perform_retrying(c, method, &rx)) != 0)
		goto out;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &out->status);
	reply_parse(&rx, out);
out:
	if (r == KW_ERR_NOMEM || r == KW_ERR_INTERNAL)
		client_fail(c, r, "%s %s: %s", method, path, kw_err_str(r));
	/* curl keeps the pointer; the body is about to be wiped and freed. */
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	kw_buf_cleanup(&json);
	free(url);
	kw_buf_cleanup(&rx.buf);
	return r;
}

void client_reply_cleanup(struct client_reply *r)
{
	kw_client_json_free(r->body);
	r->body = NULL;
}

/* 0 for a 2xx JSON (or empty) reply; else record the failure on c. */
static int reply_check(struct kw_client *c, const struct client_reply *reply)
{
	struct client_error e;

	c->status = reply->status;
	if (reply->status >= 200 && reply->status < 300) {
		if (reply->not_json) {
			client_fail(c, KW_ERR_INTERNAL, "the server's reply is not valid JSON");
			return KW_ERR_INTERNAL;
		}
		return 0;
	}
	client_error_parse(reply->status, reply->body, &e);
	memcpy(c->code, e.code, sizeof(c->code));
	memcpy(c->error, e.msg, sizeof(c->error));
	return e.err;
}

int kw_client_call(struct kw_client *c, const char *method, const char *path, const json_t *body,
                   json_t **reply)
{
	struct client_reply rep = {0};
	int r;

	if ((r = client_perform(c, method, path, body, &rep)) != 0)
		return r;
	if ((r = reply_check(c, &rep)) == 0) {
		*reply = rep.body;
		rep.body = NULL;
	}
	client_reply_cleanup(&rep);
	return r;
}

static json_t *reply_take(json_t *body, enum client_take take)
{
	switch (take) {
	case CLIENT_TAKE_DATA:
		return json_object_get(body, "data");
	case CLIENT_TAKE_AUTH:
		return json_object_get(body, "auth");
	case CLIENT_TAKE_BODY:
		return body;
	default:
		return NULL;
	}
}

static const char *take_name(enum client_take take)
{
	return take == CLIENT_TAKE_AUTH ? "auth" : take == CLIENT_TAKE_DATA ? "data" : "body";
}

int client_do(struct kw_client *c, const char *method, const char *path, json_t *body,
              enum client_take take, bool required, json_t **out)
{
	json_t *reply = NULL, *obj;
	int r;

	r = kw_client_call(c, method, path, body, &reply);
	kw_client_json_free(body);
	if (r != 0 || out == NULL || take == CLIENT_TAKE_NONE)
		goto out;
	obj = reply_take(reply, take);
	if (!json_is_object(obj)) {
		if (required) {
			client_fail(c, KW_ERR_INTERNAL, "the server's reply has no %s object",
			            take_name(take));
			r = KW_ERR_INTERNAL;
		} else {
			*out = NULL;
		}
		goto out;
	}
	*out = json_incref(obj);
out:
	kw_client_json_free(reply);
	return r;
}

/* Vault's way of saying "nothing here": 404 with an empty error list. */
static bool reply_empty_list(const struct client_reply *rep)
{
	const json_t *errors = json_object_get(rep->body, "errors");

	return rep->status == 404 && json_is_array(errors) && json_array_size(errors) == 0;
}

static int reply_list_keys(struct kw_client *c, const struct client_reply *rep, json_t **names)
{
	json_t *keys;
	int r;

	if (reply_empty_list(rep)) {
		keys = json_array();
		if (keys == NULL)
			return KW_ERR_NOMEM;
		*names = keys;
		return 0;
	}
	if ((r = reply_check(c, rep)) != 0)
		return r;
	keys = json_object_get(json_object_get(rep->body, "data"), "keys");
	if (!json_is_array(keys)) {
		client_fail(c, KW_ERR_INTERNAL, "the server's reply has no data.keys list");
		return KW_ERR_INTERNAL;
	}
	*names = json_incref(keys);
	return 0;
}

int client_list(struct kw_client *c, const char *path, json_t **names)
{
	struct client_reply rep = {0};
	int r;

	if ((r = client_perform(c, "LIST", path, NULL, &rep)) != 0)
		return r;
	r = reply_list_keys(c, &rep, names);
	client_reply_cleanup(&rep);
	return r;
}
