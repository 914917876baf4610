/*
 * url.c: server addresses, request URLs and the escaping of names into paths.
 * Pure string work, no curl, so the unit tests cover it without a server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "client_int.h"

#define UNIX_BASE_URL "http://localhost"

void client_addr_cleanup(struct client_addr *a)
{
	free(a->base_url);
	free(a->unix_path);
	a->base_url = NULL;
	a->unix_path = NULL;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_ctl_or_space(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return true;
	return false;
}

static int addr_parse_unix(const char *path, struct client_addr *out)
{
	struct sockaddr_un sun;

	/* "unix:///run/x.sock" and "unix:/run/x.sock" name the same socket. */
	if (has_prefix(path, "//"))
		path += 2;
	if (*path == '\0' || strlen(path) >= sizeof(sun.sun_path))
		return KW_ERR_CONFIG;
	out->unix_path = strdup(path);
	out->base_url = strdup(UNIX_BASE_URL);
	if (out->unix_path == NULL || out->base_url == NULL) {
		client_addr_cleanup(out);
		return KW_ERR_NOMEM;
	}
	return 0;
}

static int addr_parse_http(const char *address, struct client_addr *out)
{
	const char *host = strstr(address, "://") + 3;
	size_t len = strlen(address);

	if (*host == '\0' || *host == '/' || has_ctl_or_space(address))
		return KW_ERR_CONFIG;
	/* Query strings and fragments have no meaning in a base address. */
	if (strpbrk(address, "?#") != NULL)
		return KW_ERR_CONFIG;
	while (len > 0 && address[len - 1] == '/')
		len--;
	out->base_url = strndup(address, len);
	return out->base_url ? 0 : KW_ERR_NOMEM;
}

int client_addr_parse(const char *address, struct client_addr *out)
{
	struct client_addr a = {0};
	int r;

	if (address == NULL)
		return KW_ERR_CONFIG;
	if (has_prefix(address, "unix:"))
		r = addr_parse_unix(address + strlen("unix:"), &a);
	else if (has_prefix(address, "http://") || has_prefix(address, "https://"))
		r = addr_parse_http(address, &a);
	else
		r = KW_ERR_CONFIG;
	if (r == 0)
		*out = a;
	return r;
}

int client_url_build(const char *base, const char *path, char **out)
{
	size_t n = strlen(base) + strlen("/v1/") + strlen(path) + 1;
	char *url = malloc(n);

	if (url == NULL)
		return KW_ERR_NOMEM;
	snprintf(url, n, "%s/v1/%s", base, path);
	*out = url;
	return 0;
}

static bool unreserved(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static bool name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > KW_CLIENT_NAME_MAX)
		return false;
	/* Dot segments would be collapsed by curl or the server into another path. */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		/*
		 * '/' is refused even escaped: the server decodes the path
		 * before routing, so "k/config" would reach another endpoint.
		 */
		if (ch == '/' || ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

int client_name_escape(const char *name, char **out)
{
	static const char hex[] = "0123456789ABCDEF";
	char *s, *w;

	if (name == NULL || !name_valid(name))
		return KW_ERR_INVALID;
	s = malloc(strlen(name) * 3 + 1);
	if (s == NULL)
		return KW_ERR_NOMEM;
	w = s;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (unreserved(*p)) {
			*w++ = (char)*p;
		} else {
			*w++ = '%';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		}
	}
	*w = '\0';
	*out = s;
	return 0;
}

int client_path_build(const char *prefix, const char *name, const char *suffix, char **out)
{
	char *esc = NULL, *path = NULL;
	size_t n;
	int r;

	if ((r = client_name_escape(name, &esc)) != 0)
		return r;
	n = strlen(prefix) + strlen(esc) + strlen(suffix) + 1;
	path = malloc(n);
	if (path == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	snprintf(path, n, "%s%s%s", prefix, esc, suffix);
	*out = path;
out:
	free(esc);
	return r;
}

int client_name_path(struct kw_client *c, const char *prefix, const char *name, const char *suffix,
                     char **out)
{
	int r = client_path_build(prefix, name, suffix, out);

	client_clear_error(c);
	if (r == KW_ERR_INVALID)
		client_fail(c, r,
		            "invalid name \"%s\": names are 1 to %d bytes, not \".\" or "
		            "\"..\", without '/' or control characters",
		            name ? name : "", KW_CLIENT_NAME_MAX);
	else if (r != 0)
		client_fail(c, r, "%s", kw_err_str(r));
	return r;
}

bool client_token_valid(const char *token)
{
	size_t n = strlen(token);

	if (n == 0 || n > KW_CLIENT_TOKEN_MAX)
		return false;
	/* Anything else could end the header line or start another one. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
			return false;
	return true;
}
