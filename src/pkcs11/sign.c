/*
 * sign.c: C_Sign* and C_Verify*. Signing goes to the server (transit sign or
 * hmac); verification with a public key runs here with OpenSSL, since it is
 * a public operation and needs no round trip, and HMAC verification asks the
 * server for the MAC and compares in constant time.
 *
 * Hash-then-sign mechanisms (CKM_ECDSA_SHA256, CKM_SHA256_RSA_PKCS...) hash
 * locally as data arrives and send the digest with prehashed=true, so a long
 * multi-part input never crosses the network. ECDSA signatures come back as
 * DER (marshaling_algorithm asn1) and leave as PKCS#11's r || s (v2.40
 * 2.3.1). CKM_RSA_PKCS signs its input as it is through keyward/sign-raw:
 * a DigestInfo needs update on keyward/sign-raw/<key>, other bytes (TLS
 * 1.0's MD5||SHA-1) also on keyward/sign-raw/<key>/any — without it the
 * server's 403 is CKR_KEY_FUNCTION_NOT_PERMITTED.
 *
 * Session-state rules (v2.40 5.11, 5.12): a length query or a buffer too
 * small keeps the operation; anything else ends it, success or failure.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "pkcs11_int.h"

int p11_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t half, uint8_t *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	int ret = KW_ERR_INVALID;

	if (sig == NULL || p != der + len)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, (int)half) != (int)half ||
	    BN_bn2binpad(s, out + half, (int)half) != (int)half)
		goto out;
	ret = 0;
out:
	ECDSA_SIG_free(sig);
	return ret;
}

/* r || s back to DER for OpenSSL's verify. */
static int ecdsa_raw_to_der(const uint8_t *raw, size_t half, uint8_t **out, size_t *outlen)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
	BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
	unsigned char *der = NULL;
	int n, ret = KW_ERR_NOMEM;

	if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s))
		goto out;
	r = s = NULL;
	if ((n = i2d_ECDSA_SIG(sig, &der)) <= 0)
		goto out;
	*out = der;
	*outlen = (size_t)n;
	ret = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return ret;
}

/* The transit hash for a digest of this length (CKM_ECDSA's input). */
static const char *hash_for_len(size_t len)
{
	switch (len) {
	case 28:
		return "sha2-224";
	case 32:
		return "sha2-256";
	case 48:
		return "sha2-384";
	case 64:
		return "sha2-512";
	default:
		return NULL;
	}
}

static size_t sig_len(const struct p11_op *op)
{
	if (op->key->type->ckk == CKK_GENERIC_SECRET)
		return (size_t)EVP_MD_get_size(op->mech->md());
	if (op->key->type->ckk == CKK_RSA)
		return op->key->modulus_len;
	return op->key->type->sig_bytes;
}

static bool hashes_locally(const struct p11_mech *m)
{
	return m->md != NULL && m->ckk != CKK_GENERIC_SECRET;
}

static CK_RV pss_params(struct p11_op *op, const CK_MECHANISM *m)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = m->pParameter;
	CK_MECHANISM_TYPE mgf_hash;
	const EVP_MD *md;
	const char *hash;

	if (p == NULL || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	if ((md = p11_md_from_ckm(p->hashAlg, &hash)) == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	/* The hash-then-sign variants fix the hash (v2.40 2.1.11). */
	if (op->mech->md != NULL && EVP_MD_get_type(op->mech->md()) != EVP_MD_get_type(md))
		return CKR_MECHANISM_PARAM_INVALID;
	switch (p->mgf) {
	case CKG_MGF1_SHA256:
		mgf_hash = CKM_SHA256;
		break;
	case CKG_MGF1_SHA384:
		mgf_hash = CKM_SHA384;
		break;
	case CKG_MGF1_SHA512:
		mgf_hash = CKM_SHA512;
		break;
	default:
		return CKR_MECHANISM_PARAM_INVALID;
	}
	/* The server's PSS uses MGF1 with the signing hash. */
	if (mgf_hash != p->hashAlg || p->sLen > op->key->modulus_len)
		return CKR_MECHANISM_PARAM_INVALID;
	op->pss_md = md;
	op->pss_hash = hash;
	op->salt = p->sLen;
	return CKR_OK;
}

/* Which object classes may do it: CKA_SIGN / CKA_VERIFY (v2.40 4.8-4.10). */
static CK_RV key_allows(CK_OBJECT_CLASS cls, bool sign)
{
	if (cls == CKO_SECRET_KEY)
		return CKR_OK;
	if (sign ? cls == CKO_PRIVATE_KEY : cls == CKO_PUBLIC_KEY)
		return CKR_OK;
	return CKR_KEY_FUNCTION_NOT_PERMITTED;
}

static CK_RV op_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pm, CK_OBJECT_HANDLE hKey, bool sign)
{
	struct p11_session *s;
	struct p11_op *op;
	CK_OBJECT_CLASS cls;
	CK_RV rv;

	if ((rv = p11_op_start(h, pm, hKey, sign ? CKF_SIGN : CKF_VERIFY, &s, &cls)) != CKR_OK)
		return rv;
	op = &s->op;
	if ((rv = key_allows(cls, sign)) != CKR_OK)
		goto fail;
	if (op->mech->pss)
		rv = pss_params(op, pm);
	else if (pm->pParameter != NULL || pm->ulParameterLen != 0)
		rv = CKR_MECHANISM_PARAM_INVALID;
	if (rv != CKR_OK)
		goto fail;
	if (hashes_locally(op->mech)) {
		if ((op->md = EVP_MD_CTX_new()) == NULL ||
		    !EVP_DigestInit_ex(op->md, op->mech->md(), NULL)) {
			rv = CKR_HOST_MEMORY;
			goto fail;
		}
	}
	op->kind = sign ? P11_OP_SIGN : P11_OP_VERIFY;
	goto out;
fail:
	p11_op_end(op);
out:
	p11_session_put(s);
	return rv;
}

static CK_RV op_update(struct p11_op *op, const uint8_t *p, size_t n)
{
	op->multi = true;
	if (op->md != NULL)
		return EVP_DigestUpdate(op->md, p, n) ? CKR_OK : CKR_FUNCTION_FAILED;
	return p11_rv(p11_op_append(op, p, n));
}

/* The bytes to sign: the running digest, or the buffered input. */
static CK_RV op_input(struct p11_op *op, uint8_t *dgst, const uint8_t **in, size_t *len)
{
	unsigned dl = 0;

	if (op->md == NULL) {
		*in = op->buf ? op->buf : (const uint8_t *)"";
		*len = op->len;
		return CKR_OK;
	}
	if (!EVP_DigestFinal_ex(op->md, dgst, &dl))
		return CKR_FUNCTION_FAILED;
	*in = dgst;
	*len = dl;
	return CKR_OK;
}

/* One transit call, the signature field decoded. */
static CK_RV server_sign(struct p11_op *op, CK_SLOT_ID slot, const uint8_t *in, size_t len,
                         uint8_t **sig, size_t *siglen)
{
	const struct p11_mech *m = op->mech;
	const char *hash = m->hash;
	struct kw_client_sign_opts o = {0};
	struct p11_client pc = {0};
	json_t *data = NULL;
	const char *field = "signature", *text;
	CK_RV rv;
	int r;

	switch (op->key->type->ckk) {
	case CKK_EC:
		if (m->prehash_input && (hash = hash_for_len(len)) == NULL)
			return CKR_DATA_LEN_RANGE;
		o = (struct kw_client_sign_opts){
		    .hash = hash, .prehashed = true, .marshaling_algorithm = "asn1"};
		break;
	case CKK_RSA:
		/* RFC 8017 9.2: the DigestInfo fits with 11 bytes of padding. */
		if (m->type == CKM_RSA_PKCS && len + 11 > op->key->modulus_len)
			return CKR_DATA_LEN_RANGE;
		if (m->pss && m->prehash_input && len != (size_t)EVP_MD_get_size(op->pss_md))
			return CKR_DATA_LEN_RANGE;
		o = (struct kw_client_sign_opts){
		    .hash = hash, .prehashed = true, .signature_algorithm = "pkcs1v15"};
		break;
	case CKK_GENERIC_SECRET:
		o.hash = hash;
		field = "hmac";
		break;
	default: /* Ed25519 signs the message itself. */
		break;
	}
	for (int attempt = 0;; attempt++) {
		if ((rv = p11_client_take(slot, &pc)) != CKR_OK)
			return rv;
		if (m->type == CKM_RSA_PKCS)
			r = kw_client_sign_raw(pc.c, op->key->name, in, len, &data);
		else if (m->pss)
			r = kw_client_sign_pss(pc.c, op->key->name, in, len, op->pss_hash,
			                       (unsigned)op->salt, &data);
		else if (field[0] == 'h')
			r = kw_client_hmac(pc.c, op->key->name, in, len, &o, &data);
		else
			r = kw_client_sign(pc.c, op->key->name, in, len, &o, &data);
		/* A token refused as bad signed nothing: once more after renewal. */
		if (r == 0 || attempt > 0 || !p11_client_renew(slot, &pc, r))
			break;
		p11_client_put(slot, &pc, false);
	}
	if (r != 0) {
		p11_debug("sign with '%.64s' failed (%s)", op->key->name,
		          kw_client_error_code(pc.c));
		rv = p11_rv(r);
	} else if (m->type == CKM_RSA_PKCS) {
		/* keyward/sign-raw answers plain base64, not vault:vN:. */
		if (kw_client_json_bytes(data, field, sig, siglen) != 0)
			rv = CKR_DEVICE_ERROR;
	} else if (kw_client_json_string(data, field, &text) != 0 ||
	           kw_client_vault_decode(text, NULL, sig, siglen) != 0) {
		rv = CKR_DEVICE_ERROR;
	}
	p11_client_put(slot, &pc, rv == CKR_DEVICE_ERROR);
	kw_client_json_free(data);
	return rv;
}

/* The server's answer in PKCS#11's format, exactly need bytes. */
static CK_RV sig_finish(const struct p11_op *op, const uint8_t *sig, size_t len, uint8_t *out,
                        size_t need)
{
	if (op->key->type->ckk == CKK_EC)
		return p11_ecdsa_der_to_raw(sig, len, need / 2, out) == 0 ? CKR_OK
		                                                          : CKR_DEVICE_ERROR;
	if (len != need)
		return CKR_DEVICE_ERROR;
	memcpy(out, sig, len);
	return CKR_OK;
}

static CK_RV sign_finish(struct p11_session *s, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct p11_op *op = &s->op;
	uint8_t dgst[EVP_MAX_MD_SIZE];
	const uint8_t *in;
	uint8_t *sig = NULL;
	size_t len, siglen = 0, need = sig_len(op);
	CK_RV rv;

	if (outlen == NULL)
		return CKR_ARGUMENTS_BAD; /* ends the operation, as any failure */
	if ((rv = p11_out_check(out, outlen, need)) != CKR_OK || out == NULL)
		return rv == CKR_BUFFER_TOO_SMALL ? rv : CKR_OK;
	if ((rv = op_input(op, dgst, &in, &len)) == CKR_OK &&
	    (rv = server_sign(op, s->slot, in, len, &sig, &siglen)) == CKR_OK)
		rv = sig_finish(op, sig, siglen, out, need);
	if (sig != NULL) {
		kw_wipe(sig, siglen);
		free(sig);
	}
	kw_wipe(dgst, sizeof(dgst));
	return rv;
}

/* ---- verification ------------------------------------------------------ */

static CK_RV pkey_verify(const struct p11_op *op, const uint8_t *in, size_t len, const uint8_t *sig,
                         size_t siglen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(op->key->pub, NULL);
	const struct p11_mech *m = op->mech;
	int ok = 0;

	if (ctx == NULL || EVP_PKEY_verify_init(ctx) <= 0)
		goto out;
	if (op->key->type->ckk == CKK_RSA) {
		const EVP_MD *md = m->pss ? op->pss_md : m->md ? m->md() : NULL;

		if (EVP_PKEY_CTX_set_rsa_padding(ctx, m->pss ? RSA_PKCS1_PSS_PADDING
		                                             : RSA_PKCS1_PADDING) <= 0 ||
		    (md != NULL && EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0))
			goto out;
		if (m->pss && (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
		               EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)op->salt) <= 0))
			goto out;
	}
	ok = EVP_PKEY_verify(ctx, sig, siglen, in, len) == 1;
out:
	EVP_PKEY_CTX_free(ctx);
	return ok ? CKR_OK : CKR_SIGNATURE_INVALID;
}

static CK_RV eddsa_verify(const struct p11_op *op, const uint8_t *in, size_t len,
                          const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, op->key->pub) == 1 &&
	         EVP_DigestVerify(ctx, sig, siglen, in, len) == 1;

	EVP_MD_CTX_free(ctx);
	return ok ? CKR_OK : CKR_SIGNATURE_INVALID;
}

static CK_RV hmac_verify(struct p11_op *op, CK_SLOT_ID slot, const uint8_t *in, size_t len,
                         const uint8_t *sig, size_t siglen)
{
	uint8_t *mac = NULL;
	size_t maclen = 0;
	CK_RV rv = server_sign(op, slot, in, len, &mac, &maclen);

	if (rv == CKR_OK && (maclen != siglen || CRYPTO_memcmp(mac, sig, siglen) != 0))
		rv = CKR_SIGNATURE_INVALID;
	if (mac != NULL) {
		kw_wipe(mac, maclen);
		free(mac);
	}
	return rv;
}

static CK_RV verify_finish(struct p11_session *s, const uint8_t *sig, size_t siglen)
{
	struct p11_op *op = &s->op;
	uint8_t dgst[EVP_MAX_MD_SIZE];
	uint8_t *der = NULL;
	size_t len, derlen = 0;
	const uint8_t *in;
	CK_KEY_TYPE ckk = op->key->type->ckk;
	CK_RV rv;

	if (sig == NULL && siglen > 0)
		return CKR_ARGUMENTS_BAD;
	/* A wrong length is its own code (v2.40 5.12 C_Verify). */
	if (siglen != sig_len(op))
		return CKR_SIGNATURE_LEN_RANGE;
	if ((rv = op_input(op, dgst, &in, &len)) != CKR_OK)
		return rv;
	if (ckk == CKK_GENERIC_SECRET)
		return hmac_verify(op, s->slot, in, len, sig, siglen);
	if (ckk == CKK_EC_EDWARDS)
		return eddsa_verify(op, in, len, sig, siglen);
	if (ckk == CKK_EC) {
		if (ecdsa_raw_to_der(sig, siglen / 2, &der, &derlen) != 0)
			return CKR_HOST_MEMORY;
		rv = pkey_verify(op, in, len, der, derlen);
		OPENSSL_free(der);
		return rv;
	}
	return pkey_verify(op, in, len, sig, siglen);
}

/* ---- entry points ------------------------------------------------------ */

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(hSession, pMechanism, hKey, true);
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
             CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, P11_OP_SIGN, &s)) != CKR_OK)
		return rv;
	/* C_Sign cannot finish a multi-part operation (v2.40 5.11). */
	if (s->op.multi)
		return p11_session_put_op(s, CKR_OPERATION_ACTIVE, true);
	if (pData == NULL && ulDataLen > 0)
		return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
	if (s->op.md != NULL) {
		EVP_MD_CTX *fresh = EVP_MD_CTX_new();

		/* A repeated call after a length query hashes from the start. */
		if (fresh == NULL || !EVP_DigestInit_ex(fresh, s->op.mech->md(), NULL)) {
			EVP_MD_CTX_free(fresh);
			return p11_session_put_op(s, CKR_HOST_MEMORY, false);
		}
		EVP_MD_CTX_free(s->op.md);
		s->op.md = fresh;
		rv = EVP_DigestUpdate(s->op.md, pData, ulDataLen) ? CKR_OK : CKR_FUNCTION_FAILED;
	} else {
		s->op.len = 0;
		rv = p11_rv(p11_op_append(&s->op, pData, ulDataLen));
	}
	if (rv == CKR_OK)
		rv = sign_finish(s, pSignature, pulSignatureLen);
	return p11_session_put_op(
	    s, rv, rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && pSignature == NULL));
}

/* C_SignUpdate and C_VerifyUpdate: one more part of the data. */
static CK_RV part_add(CK_SESSION_HANDLE hSession, enum p11_op_kind kind, CK_BYTE_PTR pPart,
                      CK_ULONG ulPartLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, kind, &s)) != CKR_OK)
		return rv;
	if (pPart == NULL && ulPartLen > 0)
		return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
	rv = op_update(&s->op, pPart, ulPartLen);
	return p11_session_put_op(s, rv, rv == CKR_OK);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return part_add(hSession, P11_OP_SIGN, pPart, ulPartLen);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, P11_OP_SIGN, &s)) != CKR_OK)
		return rv;
	/* A length query must leave the running digest usable. */
	if (pSignature == NULL || (pulSignatureLen && *pulSignatureLen < sig_len(&s->op))) {
		if (pulSignatureLen == NULL)
			return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
		rv = p11_out_check(pSignature, pulSignatureLen, sig_len(&s->op));
		return p11_session_put_op(s, rv, true);
	}
	rv = sign_finish(s, pSignature, pulSignatureLen);
	return p11_session_put_op(s, rv, false);
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(hSession, pMechanism, hKey, false);
}

CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, P11_OP_VERIFY, &s)) != CKR_OK)
		return rv;
	if (s->op.multi)
		return p11_session_put_op(s, CKR_OPERATION_ACTIVE, true);
	if (pData == NULL && ulDataLen > 0)
		return p11_session_put_op(s, CKR_ARGUMENTS_BAD, false);
	rv = op_update(&s->op, pData, ulDataLen);
	if (rv == CKR_OK)
		rv = verify_finish(s, pSignature, ulSignatureLen);
	return p11_session_put_op(s, rv, false);
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return part_add(hSession, P11_OP_VERIFY, pPart, ulPartLen);
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get_op(hSession, P11_OP_VERIFY, &s)) != CKR_OK)
		return rv;
	rv = verify_finish(s, pSignature, ulSignatureLen);
	return p11_session_put_op(s, rv, false);
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_OBJECT_HANDLE hKey)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	/* No mechanism here signs with recovery. */
	rv = s->op.kind != P11_OP_NONE ? CKR_OPERATION_ACTIVE
	     : pMechanism == NULL      ? CKR_ARGUMENTS_BAD
	                               : CKR_MECHANISM_INVALID;
	p11_session_put(s);
	return rv;
}

CK_RV C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                    CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	struct p11_session *s;
	CK_RV rv;

	if ((rv = p11_session_get(hSession, &s)) != CKR_OK)
		return rv;
	p11_session_put(s);
	return CKR_OPERATION_NOT_INITIALIZED;
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_OBJECT_HANDLE hKey)
{
	return C_SignRecoverInit(hSession, pMechanism, hKey);
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen,
                      CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
	return C_SignRecover(hSession, pSignature, ulSignatureLen, pData, pulDataLen);
}
