/*
 * note.c: C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, the
 * verifier-key text form of golang.org/x/mod/sumdb/note, and tlog
 * checkpoints (c2sp.org/tlog-checkpoint) on top.
 *
 * Signing goes through the caller's callback: no private key passes through
 * here. Verification uses only the public key in a struct kw_audit_verifier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../crypto/crypto.h"
#include "audit_int.h"

#define SIG_TYPE_ED25519 0x01
#define KEY_ID_BYTES     4
#define NOTE_SIGS_MAX    100 /* as x/mod/sumdb/note; the spec asks for >= 16 */
/* U+2014 EM DASH and a space open every signature line. */
static const char sig_prefix[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN (sizeof(sig_prefix) - 1)
/* SubjectPublicKeyInfo DER of an Ed25519 key, before its 32 raw bytes. */
static const uint8_t ed25519_spki_prefix[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                              0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

/* Key names: non-empty, no spaces or '+' (they delimit the key string and
 * the signature line), no control characters. */
static bool name_valid(const char *name, size_t len)
{
	if (len == 0 || len > KW_AUDIT_NAME_MAX || !audit_utf8_valid((const uint8_t *)name, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];

		if (c <= 0x20 || c == 0x7f || c == '+')
			return false;
	}
	return true;
}

/* Note text: UTF-8 with no control character other than newline. */
static bool text_valid(const char *s, size_t len)
{
	if (!audit_utf8_valid((const uint8_t *)s, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];

		if ((c < 0x20 && c != '\n') || c == 0x7f)
			return false;
	}
	return true;
}

int kw_audit_key_id(const char *name, const uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES],
                    uint32_t *out)
{
	uint8_t buf[KW_AUDIT_NAME_MAX + 2 + KW_AUDIT_ED25519_PUBLIC_BYTES];
	uint8_t digest[KW_HASH_MAX_BYTES];
	size_t n = strlen(name), dlen;
	int rc;

	if (!name_valid(name, n))
		return KW_ERR_INVALID;
	/* c2sp.org/signed-note: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]. */
	memcpy(buf, name, n);
	buf[n] = '\n';
	buf[n + 1] = SIG_TYPE_ED25519;
	memcpy(buf + n + 2, pub, KW_AUDIT_ED25519_PUBLIC_BYTES);
	rc = kw_hash_digest(KW_HASH_SHA256, buf, n + 2 + KW_AUDIT_ED25519_PUBLIC_BYTES, digest,
	                    &dlen);
	if (rc != 0)
		return rc;
	*out = kw_load_u32(digest);
	return 0;
}

int kw_audit_verifier_encode(const char *name, const uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES],
                             char **out)
{
	uint8_t typed[1 + KW_AUDIT_ED25519_PUBLIC_BYTES];
	char *b64 = NULL, *s = NULL;
	uint32_t id;
	size_t n;
	int rc;

	if ((rc = kw_audit_key_id(name, pub, &id)) != 0)
		return rc;
	typed[0] = SIG_TYPE_ED25519;
	memcpy(typed + 1, pub, KW_AUDIT_ED25519_PUBLIC_BYTES);
	if ((rc = kw_base64_encode(typed, sizeof(typed), &b64)) != 0)
		return rc;
	n = strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
	s = malloc(n);
	if (s == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	snprintf(s, n, "%s+%08x+%s", name, id, b64);
	*out = s;
out:
	free(b64);
	return rc;
}

static int hex8_parse(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 8; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return KW_ERR_INVALID;
		v = (v << 4) | (uint32_t)d;
	}
	*out = v;
	return 0;
}

int kw_audit_verifier_decode(const char *text, struct kw_audit_verifier *out)
{
	struct kw_audit_verifier v = {0};
	const char *plus1, *plus2;
	uint8_t *key = NULL;
	size_t keylen = 0, namelen;
	uint32_t id;
	int rc = KW_ERR_INVALID;

	/* The name has no '+', the base64 may: split at the first two. */
	plus1 = strchr(text, '+');
	if (plus1 == NULL)
		return KW_ERR_INVALID;
	plus2 = strchr(plus1 + 1, '+');
	namelen = (size_t)(plus1 - text);
	if (plus2 == NULL || plus2 - plus1 != 9 || !name_valid(text, namelen))
		return KW_ERR_INVALID;
	memcpy(v.name, text, namelen);
	if (hex8_parse(plus1 + 1, &v.key_id) != 0)
		return KW_ERR_INVALID;
	if (kw_base64_decode(plus2 + 1, strlen(plus2 + 1), &key, &keylen) != 0)
		return KW_ERR_INVALID;
	if (keylen != 1 + KW_AUDIT_ED25519_PUBLIC_BYTES || key[0] != SIG_TYPE_ED25519)
		goto out;
	memcpy(v.public_key, key + 1, KW_AUDIT_ED25519_PUBLIC_BYTES);
	if ((rc = kw_audit_key_id(v.name, v.public_key, &id)) != 0)
		goto out;
	if (id != v.key_id) {
		rc = KW_ERR_INVALID;
		goto out;
	}
	*out = v;
out:
	free(key);
	return rc;
}

int kw_audit_sign_key(void *ctx, const uint8_t *msg, size_t len,
                      uint8_t sig[KW_AUDIT_ED25519_SIG_BYTES])
{
	const struct kw_key *k = ctx;
	struct kw_sign_params p;
	uint8_t *s = NULL;
	size_t slen = 0;
	int rc;

	if (k == NULL || kw_key_type_of(k) != KW_KEY_ED25519)
		return KW_ERR_KEY_TYPE;
	kw_sign_params_default(&p);
	if ((rc = kw_sign(k, &p, msg, len, &s, &slen)) != 0)
		return rc;
	if (slen == KW_AUDIT_ED25519_SIG_BYTES)
		memcpy(sig, s, slen);
	else
		rc = KW_ERR_CRYPTO;
	free(s);
	return rc;
}

int kw_audit_key_public(const struct kw_key *k, uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES])
{
	uint8_t *der = NULL;
	size_t len = 0;
	int rc;

	if (k == NULL || kw_key_type_of(k) != KW_KEY_ED25519)
		return KW_ERR_KEY_TYPE;
	if ((rc = kw_key_public_der(k, &der, &len)) != 0)
		return rc;
	if (len != sizeof(ed25519_spki_prefix) + KW_AUDIT_ED25519_PUBLIC_BYTES ||
	    memcmp(der, ed25519_spki_prefix, sizeof(ed25519_spki_prefix)) != 0)
		rc = KW_ERR_CRYPTO;
	else
		memcpy(pub, der + sizeof(ed25519_spki_prefix), KW_AUDIT_ED25519_PUBLIC_BYTES);
	free(der);
	return rc;
}

/* 0 if sig is pub's Ed25519 signature of msg, KW_ERR_INTEGRITY if not. */
static int ed25519_check(const uint8_t pub[KW_AUDIT_ED25519_PUBLIC_BYTES], const uint8_t *msg,
                         size_t len, const uint8_t *sig, size_t siglen)
{
	uint8_t der[sizeof(ed25519_spki_prefix) + KW_AUDIT_ED25519_PUBLIC_BYTES];
	struct kw_sign_params p;
	struct kw_key *k = NULL;
	bool valid = false;
	int rc;

	memcpy(der, ed25519_spki_prefix, sizeof(ed25519_spki_prefix));
	memcpy(der + sizeof(ed25519_spki_prefix), pub, KW_AUDIT_ED25519_PUBLIC_BYTES);
	/* A key OpenSSL will not load cannot have made any signature. */
	if (kw_key_from_public_der(KW_KEY_ED25519, der, sizeof(der), &k) != 0)
		return KW_ERR_INTEGRITY;
	kw_sign_params_default(&p);
	rc = kw_verify(k, &p, msg, len, sig, siglen, &valid);
	kw_key_free(k);
	if (rc != 0)
		return rc;
	return valid ? 0 : KW_ERR_INTEGRITY;
}

/* Text we sign: ends in a newline, no blank line, no control characters. */
static bool sign_text_valid(const char *text, size_t len)
{
	if (len == 0 || text[len - 1] != '\n' || text[0] == '\n' || !text_valid(text, len))
		return false;
	return memmem(text, len, "\n\n", 2) == NULL;
}

int kw_audit_note_sign(const char *text, size_t len, const struct kw_audit_signer *s, char **out)
{
	uint8_t blob[KEY_ID_BYTES + KW_AUDIT_ED25519_SIG_BYTES];
	struct kw_buf b;
	char *b64 = NULL;
	uint32_t id;
	int rc;

	kw_buf_init(&b);
	if (!sign_text_valid(text, len) || len > KW_AUDIT_NOTE_MAX / 2)
		return KW_ERR_INVALID;
	if ((rc = kw_audit_key_id(s->name, s->public_key, &id)) != 0)
		return rc;
	kw_store_u32(blob, id);
	if ((rc = s->sign(s->ctx, (const uint8_t *)text, len, blob + KEY_ID_BYTES)) != 0)
		return rc;
	/* A callback whose key is not s->public_key would publish notes nobody
	 * can verify: catch it here, not in an auditor's hands. */
	rc = ed25519_check(s->public_key, (const uint8_t *)text, len, blob + KEY_ID_BYTES,
	                   KW_AUDIT_ED25519_SIG_BYTES);
	if (rc != 0) {
		kw_error("audit: the checkpoint signer's key does not match its public key");
		return KW_ERR_CRYPTO;
	}
	if ((rc = kw_base64_encode(blob, sizeof(blob), &b64)) != 0)
		return rc;
	if ((rc = kw_buf_append(&b, text, len)) != 0 || (rc = kw_buf_append_str(&b, "\n")) != 0 ||
	    (rc = kw_buf_append_str(&b, sig_prefix)) != 0 ||
	    (rc = kw_buf_append_str(&b, s->name)) != 0 || (rc = kw_buf_append_str(&b, " ")) != 0 ||
	    (rc = kw_buf_append_str(&b, b64)) != 0 || (rc = kw_buf_append(&b, "\n", 2)) != 0)
		goto out;
	*out = (char *)b.data; /* NUL included by the last append */
	b.data = NULL;
out:
	free(b64);
	kw_buf_cleanup(&b);
	return rc;
}

/* Offset of the blank line that ends the text: the last "\n\n". */
static int note_split(const char *note, size_t len, size_t *text_len)
{
	for (size_t i = len - 1; i >= 1; i--) {
		if (note[i] == '\n' && note[i - 1] == '\n') {
			*text_len = i;
			return 0;
		}
	}
	return KW_ERR_INVALID;
}

/*
 * One signature line (without its newline). Returns 1 if it is v's and
 * verifies, 0 if it is someone else's, KW_ERR_INTEGRITY if it is v's and
 * does not verify, KW_ERR_INVALID if malformed.
 */
static int sig_line_check(const char *line, size_t len, const char *text, size_t text_len,
                          const struct kw_audit_verifier *v)
{
	const char *name = line + SIG_PREFIX_LEN, *sp;
	uint8_t *blob = NULL;
	size_t namelen, bloblen = 0;
	int rc;

	if (len <= SIG_PREFIX_LEN || memcmp(line, sig_prefix, SIG_PREFIX_LEN) != 0)
		return KW_ERR_INVALID;
	sp = memchr(name, ' ', len - SIG_PREFIX_LEN);
	if (sp == NULL)
		return KW_ERR_INVALID;
	namelen = (size_t)(sp - name);
	if (!name_valid(name, namelen))
		return KW_ERR_INVALID;
	if (kw_base64_decode(sp + 1, (size_t)(line + len - sp - 1), &blob, &bloblen) != 0)
		return KW_ERR_INVALID;
	if (bloblen <= KEY_ID_BYTES) {
		rc = KW_ERR_INVALID;
		goto out;
	}
	rc = 0;
	if (namelen != strlen(v->name) || memcmp(name, v->name, namelen) != 0 ||
	    kw_load_u32(blob) != v->key_id)
		goto out;
	rc = ed25519_check(v->public_key, (const uint8_t *)text, text_len, blob + KEY_ID_BYTES,
	                   bloblen - KEY_ID_BYTES);
	if (rc == 0)
		rc = 1;
out:
	free(blob);
	return rc;
}

int kw_audit_note_open(const char *note, size_t len, const struct kw_audit_verifier *v,
                       size_t *text_len)
{
	size_t split, pos, nsigs = 0;
	bool verified = false;

	if (note == NULL || len < 3 || len > KW_AUDIT_NOTE_MAX || !text_valid(note, len))
		return KW_ERR_INVALID;
	if (note[len - 1] != '\n' || note_split(note, len, &split) != 0 || split + 1 == len)
		return KW_ERR_INVALID;
	/* split is the blank line's newline; the text ends just before it. */
	for (pos = split + 1; pos < len; nsigs++) {
		const char *nl = memchr(note + pos, '\n', len - pos);
		size_t linelen = (size_t)(nl - note) - pos;
		int rc;

		if (nsigs == NOTE_SIGS_MAX)
			return KW_ERR_INVALID;
		rc = sig_line_check(note + pos, linelen, note, split, v);
		if (rc < 0)
			return rc;
		/* One signature per key: a second one would be ambiguous. */
		if (rc == 1 && verified)
			return KW_ERR_INVALID;
		verified |= rc == 1;
		pos += linelen + 1;
	}
	if (!verified)
		return KW_ERR_INTEGRITY;
	*text_len = split;
	return 0;
}

int kw_audit_checkpoint_sign(const struct kw_audit_checkpoint *c, const struct kw_audit_signer *s,
                             char **out)
{
	char text[KW_AUDIT_NAME_MAX + 80];
	char *root = NULL;
	size_t olen = strnlen(c->origin, sizeof(c->origin));
	int n, rc;

	if (olen == 0 || olen > KW_AUDIT_NAME_MAX || memchr(c->origin, '\n', olen) != NULL)
		return KW_ERR_INVALID;
	if ((rc = kw_base64_encode(c->root, KW_AUDIT_HASH_BYTES, &root)) != 0)
		return rc;
	/* c2sp.org/tlog-checkpoint: origin, decimal size, base64 root. */
	n = snprintf(text, sizeof(text), "%s\n%llu\n%s\n", c->origin, (unsigned long long)c->size,
	             root);
	free(root);
	if (n < 0 || (size_t)n >= sizeof(text))
		return KW_ERR_INVALID;
	return kw_audit_note_sign(text, (size_t)n, s, out);
}

/* Canonical decimal: digits only, no leading zero unless "0", fits u64. */
static int size_parse(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return KW_ERR_INVALID;
	for (size_t i = 0; i < len; i++) {
		uint64_t d;

		if (s[i] < '0' || s[i] > '9')
			return KW_ERR_INVALID;
		d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return KW_ERR_INVALID;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The next line of text[*pos..end) (without its newline). */
static bool next_line(const char *text, size_t end, size_t *pos, const char **line, size_t *len)
{
	const char *nl;

	if (*pos >= end)
		return false;
	nl = memchr(text + *pos, '\n', end - *pos);
	if (nl == NULL)
		return false;
	*line = text + *pos;
	*len = (size_t)(nl - *line);
	*pos += *len + 1;
	return true;
}

static int checkpoint_parse(const char *text, size_t len, struct kw_audit_checkpoint *c)
{
	const char *line;
	size_t n, pos = 0;
	uint8_t *root = NULL;
	size_t rootlen = 0;

	if (!next_line(text, len, &pos, &line, &n) || n == 0 || n > KW_AUDIT_NAME_MAX)
		return KW_ERR_INVALID;
	memcpy(c->origin, line, n);
	c->origin[n] = '\0';
	if (!next_line(text, len, &pos, &line, &n) || size_parse(line, n, &c->size) != 0)
		return KW_ERR_INVALID;
	if (!next_line(text, len, &pos, &line, &n) ||
	    kw_base64_decode(line, n, &root, &rootlen) != 0)
		return KW_ERR_INVALID;
	if (rootlen != KW_AUDIT_HASH_BYTES) {
		free(root);
		return KW_ERR_INVALID;
	}
	memcpy(c->root, root, KW_AUDIT_HASH_BYTES);
	free(root);
	/* Extension lines: opaque, but never empty. */
	while (next_line(text, len, &pos, &line, &n))
		if (n == 0)
			return KW_ERR_INVALID;
	return 0;
}

int kw_audit_checkpoint_open(const char *note, size_t len, const struct kw_audit_verifier *v,
                             struct kw_audit_checkpoint *out)
{
	struct kw_audit_checkpoint c = {0};
	size_t text_len;
	int rc;

	if ((rc = kw_audit_note_open(note, len, v, &text_len)) != 0)
		return rc;
	if ((rc = checkpoint_parse(note, text_len, &c)) != 0)
		return rc;
	*out = c;
	return 0;
}

int audit_checkpoint_peek(const char *note, size_t len, struct kw_audit_checkpoint *out)
{
	struct kw_audit_checkpoint c = {0};
	size_t split;
	int rc;

	if (note == NULL || len < 3 || len > KW_AUDIT_NOTE_MAX ||
	    note_split(note, len, &split) != 0)
		return KW_ERR_INVALID;
	if ((rc = checkpoint_parse(note, split, &c)) != 0)
		return rc;
	*out = c;
	return 0;
}
