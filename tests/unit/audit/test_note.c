/*
 * test_note.c: signed notes and checkpoints — the published example of
 * golang.org/x/mod/sumdb/note reproduced byte for byte, a golden checkpoint
 * with a fixed key, and every refusal: bad signature, wrong key, malformed
 * lines, non-canonical sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_tests.h"

/* golang.org/x/mod/sumdb/note's documented example. */
static const char go_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char go_seed_b64[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char go_text[] = "If you think cryptography is the answer to your problem,\n"
                              "then you don't know what your problem is.\n";
static const char go_note[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xe2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#define ORIGIN "example.com/keyward/audit"

static struct kw_key *key_from_seed(const uint8_t seed[32])
{
	uint8_t der[48];
	struct kw_key *k = NULL;
	size_t plen;
	uint8_t *prefix = t_unhex("302e020100300506032b657004220420", &plen);

	memcpy(der, prefix, plen);
	memcpy(der + plen, seed, 32);
	assert_int_equal(kw_key_decode(KW_KEY_ED25519, der, plen + 32, &k), 0);
	kw_wipe(der, sizeof(der));
	free(prefix);
	return k;
}

static struct kw_key *go_key(void)
{
	uint8_t *typed = NULL;
	size_t len = 0;
	struct kw_key *k;

	assert_int_equal(kw_base64_decode(go_seed_b64, strlen(go_seed_b64), &typed, &len), 0);
	assert_int_equal(len, 33);
	assert_int_equal(typed[0], 0x01);
	k = key_from_seed(typed + 1);
	kw_wipe(typed, len);
	free(typed);
	return k;
}

void test_note_go_vector(void **state)
{
	struct kw_audit_verifier v;
	struct kw_audit_signer s;
	struct kw_key *k = go_key();
	char *note = NULL, *bad;
	size_t text_len = 0;

	assert_int_equal(kw_audit_verifier_decode(go_vkey, &v), 0);
	assert_string_equal(v.name, "PeterNeumann");
	assert_int_equal(v.key_id, 0xc74f20a3);
	t_signer(&s, k, "PeterNeumann");
	assert_memory_equal(s.public_key, v.public_key, 32);
	/* Ed25519 is deterministic: our note is the published one. */
	assert_int_equal(kw_audit_note_sign(go_text, strlen(go_text), &s, &note), 0);
	assert_string_equal(note, go_note);
	assert_int_equal(kw_audit_note_open(go_note, strlen(go_note), &v, &text_len), 0);
	assert_int_equal(text_len, strlen(go_text));
	bad = strdup(go_note);
	assert_non_null(bad);
	bad[strstr(bad, "cryptography") - bad + 11] = 'Y';
	assert_int_equal(kw_audit_note_open(bad, strlen(bad), &v, &text_len), KW_ERR_INTEGRITY);
	free(bad);
	free(note);
	kw_key_free(k);
}

void test_note_verifier_key_roundtrip(void **state)
{
	struct kw_key *k = t_fixed_key();
	struct kw_audit_verifier v;
	struct kw_audit_signer s;
	char *text = NULL, *path;
	size_t len;
	uint32_t id;

	t_signer(&s, k, ORIGIN);
	assert_int_equal(kw_audit_verifier_encode(ORIGIN, s.public_key, &text), 0);
	path = t_path(GOLDEN_DIR, "verifier-key.txt");
	if (getenv("KW_GOLDEN_UPDATE") != NULL)
		t_write_file(path, text, strlen(text));
	{
		char *want = t_read_file(path, &len);

		assert_string_equal(text, want);
		free(want);
	}
	assert_int_equal(kw_audit_verifier_decode(text, &v), 0);
	assert_string_equal(v.name, ORIGIN);
	assert_memory_equal(v.public_key, s.public_key, 32);
	assert_int_equal(kw_audit_key_id(ORIGIN, s.public_key, &id), 0);
	assert_int_equal(v.key_id, id);
	free(path);
	free(text);
	kw_key_free(k);
}

static void assert_vkey_rejected(const char *text)
{
	struct kw_audit_verifier v;

	assert_int_equal(kw_audit_verifier_decode(text, &v), KW_ERR_INVALID);
}

void test_note_verifier_key_rejects(void **state)
{
	size_t n = strlen(go_vkey);
	char buf[128];

	/* Every truncation, and every single character changed. */
	for (size_t i = 0; i < n; i++) {
		memcpy(buf, go_vkey, i);
		buf[i] = '\0';
		assert_vkey_rejected(buf);
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(buf, go_vkey, n + 1);
		buf[i] = (char)(buf[i] + 1);
		assert_vkey_rejected(buf);
	}
	assert_vkey_rejected("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
	assert_vkey_rejected("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
	/* Type byte 0x02 (ECDSA) in place of 0x01. */
	assert_vkey_rejected("PeterNeumann+c74f20a3+Alpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
	assert_vkey_rejected(
	    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n");
	assert_vkey_rejected("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
}

static void fixed_checkpoint(struct kw_audit_checkpoint *c)
{
	size_t n;
	/* RFC 6962's 8-leaf test tree. */
	uint8_t *root =
	    t_unhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", &n);

	memset(c, 0, sizeof(*c));
	strcpy(c->origin, ORIGIN);
	c->size = 8;
	memcpy(c->root, root, 32);
	free(root);
}

void test_note_checkpoint_golden(void **state)
{
	struct kw_key *k = t_fixed_key();
	struct kw_audit_checkpoint c, got;
	struct kw_audit_verifier v;
	struct kw_audit_signer s;
	char *note = NULL, *path, *want;
	size_t len;

	t_signer(&s, k, ORIGIN);
	t_verifier(&v, &s);
	fixed_checkpoint(&c);
	assert_int_equal(kw_audit_checkpoint_sign(&c, &s, &note), 0);
	path = t_path(GOLDEN_DIR, "checkpoint.txt");
	if (getenv("KW_GOLDEN_UPDATE") != NULL)
		t_write_file(path, note, strlen(note));
	want = t_read_file(path, &len);
	assert_string_equal(note, want);
	assert_int_equal(kw_audit_checkpoint_open(want, len, &v, &got), 0);
	assert_string_equal(got.origin, ORIGIN);
	assert_int_equal(got.size, 8);
	assert_memory_equal(got.root, c.root, 32);
	/* Size 0 is written "0". */
	c.size = 0;
	free(note);
	assert_int_equal(kw_audit_checkpoint_sign(&c, &s, &note), 0);
	assert_non_null(strstr(note, ORIGIN "\n0\n"));
	assert_int_equal(kw_audit_checkpoint_open(note, strlen(note), &v, &got), 0);
	assert_int_equal(got.size, 0);
	free(note);
	free(want);
	free(path);
	kw_key_free(k);
}

/* A note over any text at all (no checks), signed by s. */
static char *hand_note(const char *text, const struct kw_audit_signer *s)
{
	uint8_t blob[68];
	char *b64 = NULL, *out;
	uint32_t id;
	size_t n;

	assert_int_equal(kw_audit_key_id(s->name, s->public_key, &id), 0);
	kw_store_u32(blob, id);
	assert_int_equal(s->sign(s->ctx, (const uint8_t *)text, strlen(text), blob + 4), 0);
	assert_int_equal(kw_base64_encode(blob, sizeof(blob), &b64), 0);
	n = strlen(text) + strlen(s->name) + strlen(b64) + 16;
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%s\n\xe2\x80\x94 %s %s\n", text, s->name, b64);
	free(b64);
	return out;
}

static void assert_cp_rejected(const char *note, const struct kw_audit_verifier *v, int want)
{
	struct kw_audit_checkpoint c;

	assert_int_equal(kw_audit_checkpoint_open(note, strlen(note), v, &c), want);
}

static void assert_text_rejected(const char *text, const struct kw_audit_signer *s,
                                 const struct kw_audit_verifier *v)
{
	char *note = hand_note(text, s);

	assert_cp_rejected(note, v, KW_ERR_INVALID);
	free(note);
}

void test_note_checkpoint_rejects(void **state)
{
	static const char root[] = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
	struct kw_key *k = t_fixed_key();
	struct kw_audit_checkpoint c;
	struct kw_audit_verifier v;
	struct kw_audit_signer s;
	char text[512], *note = NULL, *bad;

	t_signer(&s, k, ORIGIN);
	t_verifier(&v, &s);
	/* The well-formed base case, by the same route. */
	snprintf(text, sizeof(text), ORIGIN "\n8\n%s\n", root);
	note = hand_note(text, &s);
	assert_int_equal(kw_audit_checkpoint_open(note, strlen(note), &v, &c), 0);
	free(note);
	/* Extension lines are allowed, empty ones are not. */
	snprintf(text, sizeof(text), ORIGIN "\n8\n%s\nextension\n", root);
	note = hand_note(text, &s);
	assert_int_equal(kw_audit_checkpoint_open(note, strlen(note), &v, &c), 0);
	free(note);
	{
		static const char *const sizes[] = {"08",
		                                    "00",
		                                    "+8",
		                                    " 8",
		                                    "8 ",
		                                    "",
		                                    "0x8",
		                                    "-1",
		                                    "18446744073709551616",
		                                    "99999999999999999999"};

		for (size_t i = 0; i < KW_ARRAY_LEN(sizes); i++) {
			snprintf(text, sizeof(text), ORIGIN "\n%s\n%s\n", sizes[i], root);
			assert_text_rejected(text, &s, &v);
		}
	}
	snprintf(text, sizeof(text), ORIGIN "\n18446744073709551615\n%s\n", root);
	note = hand_note(text, &s);
	assert_int_equal(kw_audit_checkpoint_open(note, strlen(note), &v, &c), 0);
	assert_true(c.size == UINT64_MAX);
	free(note);
	snprintf(text, sizeof(text), "\n8\n%s\n", root); /* empty origin */
	assert_text_rejected(text, &s, &v);
	snprintf(text, sizeof(text), ORIGIN "\n8\n%s\n\nextension\n", root);
	assert_text_rejected(text, &s, &v);
	assert_text_rejected(ORIGIN "\n8\nAAAA\n", &s, &v);        /* 3-byte root */
	assert_text_rejected(ORIGIN "\n8\n", &s, &v);              /* no root */
	assert_text_rejected(ORIGIN "\n8\nnot base64!\n", &s, &v); /* bad base64 */
	snprintf(text, sizeof(text), ORIGIN "\n8\n%s\t\n", root);  /* control character */
	assert_text_rejected(text, &s, &v);

	/* Note structure. */
	snprintf(text, sizeof(text), ORIGIN "\n8\n%s\n", root);
	note = hand_note(text, &s);
	assert_cp_rejected(text, &v, KW_ERR_INVALID); /* no signature block */
	bad = strdup(note);
	assert_non_null(bad);
	bad[strlen(bad) - 1] = '\0'; /* no final newline */
	assert_cp_rejected(bad, &v, KW_ERR_INVALID);
	strcpy(bad, note);
	memcpy(strstr(bad, "\xe2\x80\x94"), "---", 3); /* not an em dash */
	assert_cp_rejected(bad, &v, KW_ERR_INVALID);
	strcpy(bad, note);
	*strrchr(bad, '=') = '!'; /* bad base64 in the signature */
	assert_cp_rejected(bad, &v, KW_ERR_INVALID);
	free(bad);
	{
		/* The same signature twice. */
		const char *sig = strstr(note, "\xe2\x80\x94");
		size_t n = strlen(note) + strlen(sig) + 1;

		bad = malloc(n);
		assert_non_null(bad);
		snprintf(bad, n, "%s%s", note, sig);
		assert_cp_rejected(bad, &v, KW_ERR_INVALID);
		free(bad);
	}
	free(note);
	kw_key_free(k);
}

void test_note_wrong_key(void **state)
{
	struct kw_key *k = t_fixed_key(), *other = NULL;
	struct kw_audit_verifier v, vo;
	struct kw_audit_signer s, so;
	struct kw_audit_checkpoint c;
	char *note = NULL, *bad;
	char *sig;

	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &other), 0);
	t_signer(&s, k, ORIGIN);
	t_verifier(&v, &s);
	t_signer(&so, other, ORIGIN); /* same name, other key */
	t_verifier(&vo, &so);
	fixed_checkpoint(&c);
	assert_int_equal(kw_audit_checkpoint_sign(&c, &s, &note), 0);
	assert_cp_rejected(note, &vo, KW_ERR_INTEGRITY);
	/* Right key id, signature bytes changed. */
	bad = strdup(note);
	assert_non_null(bad);
	sig = strrchr(bad, ' ') + 1;
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	assert_cp_rejected(bad, &v, KW_ERR_INTEGRITY);
	/* The signature of a different text. */
	free(bad);
	bad = strdup(note);
	assert_non_null(bad);
	bad[strlen(ORIGIN) + 1] = '9';
	assert_cp_rejected(bad, &v, KW_ERR_INTEGRITY);
	free(bad);
	free(note);
	kw_key_free(other);
	kw_key_free(k);
}

void test_note_other_signatures(void **state)
{
	struct kw_key *k = t_fixed_key(), *other = NULL;
	struct kw_audit_verifier v, vo;
	struct kw_audit_signer s, so;
	struct kw_audit_checkpoint c;
	char *ours = NULL, *theirs = NULL, *both;
	size_t n;

	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &other), 0);
	t_signer(&s, k, ORIGIN);
	t_verifier(&v, &s);
	t_signer(&so, other, "witness.example.org");
	t_verifier(&vo, &so);
	fixed_checkpoint(&c);
	assert_int_equal(kw_audit_checkpoint_sign(&c, &s, &ours), 0);
	assert_int_equal(kw_audit_checkpoint_sign(&c, &so, &theirs), 0);
	/* A witness's cosignature beside ours is ignored by our verifier. */
	n = strlen(ours) + strlen(theirs);
	both = malloc(n);
	assert_non_null(both);
	snprintf(both, n, "%s%s", ours, strstr(theirs, "\xe2\x80\x94"));
	assert_int_equal(kw_audit_checkpoint_open(both, strlen(both), &v, &c), 0);
	assert_int_equal(kw_audit_checkpoint_open(both, strlen(both), &vo, &c), 0);
	/* Only someone else's signature: not verified. */
	assert_cp_rejected(theirs, &v, KW_ERR_INTEGRITY);
	free(both);
	free(ours);
	free(theirs);
	kw_key_free(other);
	kw_key_free(k);
}

void test_note_signer_mismatch(void **state)
{
	struct kw_key *k = t_fixed_key(), *other = NULL;
	struct kw_audit_checkpoint c;
	struct kw_audit_signer s;
	char *note = NULL;

	assert_int_equal(kw_key_generate(KW_KEY_ED25519, 0, &other), 0);
	t_signer(&s, k, ORIGIN);
	s.ctx = other; /* the callback signs with a key other than s.public_key */
	fixed_checkpoint(&c);
	assert_int_equal(kw_audit_checkpoint_sign(&c, &s, &note), KW_ERR_CRYPTO);
	assert_null(note);
	/* Text we would sign must end in a newline and hold no blank line. */
	s.ctx = k;
	assert_int_equal(kw_audit_note_sign("a\n\nb\n", 5, &s, &note), KW_ERR_INVALID);
	assert_int_equal(kw_audit_note_sign("a", 1, &s, &note), KW_ERR_INVALID);
	strcpy(c.origin, "two\nlines");
	assert_int_equal(kw_audit_checkpoint_sign(&c, &s, &note), KW_ERR_INVALID);
	kw_key_free(other);
	kw_key_free(k);
}
