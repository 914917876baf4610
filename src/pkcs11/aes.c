/*
 * aes.c: the AES modes of keyward/cipher — CKM_AES_GCM, CKM_AES_CBC,
 * CKM_AES_CBC_PAD, CKM_AES_CTR and CKM_AES_ECB — their parameters, output
 * lengths and the server call. The server takes one whole input, so the
 * operation buffers its parts and the call happens at the end (crypt.c).
 *
 * CKM_AES_ECB needs update on keyward/cipher/<key>/ecb besides the cipher
 * path; a policy without it answers 403, which p11_rv() makes
 * CKR_KEY_FUNCTION_NOT_PERMITTED: the mechanism is valid, this key may not
 * be used with it.
 */
#include <stdlib.h>
#include <string.h>

#include "pkcs11_int.h"

/* CK_GCM_PARAMS as v2.40 printed it, without ulIvBits; some callers (and
 * older headers) still pass this shape, told apart by its size. */
struct gcm_params_v240 {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
};

static CK_RV dup_bytes(const void *p, size_t n, uint8_t **out, size_t *outlen)
{
	if (n == 0)
		return CKR_OK;
	if (p == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	if ((*out = malloc(n)) == NULL)
		return CKR_HOST_MEMORY;
	memcpy(*out, p, n);
	*outlen = n;
	return CKR_OK;
}

static CK_RV gcm_params(struct p11_op *op, const CK_MECHANISM *m)
{
	const void *iv, *aad;
	CK_ULONG iv_len, aad_len, tag_bits;
	CK_RV rv;

	if (m->pParameter != NULL && m->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
		const CK_GCM_PARAMS *p = m->pParameter;

		iv = p->pIv, iv_len = p->ulIvLen, aad = p->pAAD, aad_len = p->ulAADLen;
		tag_bits = p->ulTagBits;
	} else if (m->pParameter != NULL && m->ulParameterLen == sizeof(struct gcm_params_v240)) {
		const struct gcm_params_v240 *p = m->pParameter;

		iv = p->pIv, iv_len = p->ulIvLen, aad = p->pAAD, aad_len = p->ulAADLen;
		tag_bits = p->ulTagBits;
	} else {
		return CKR_MECHANISM_PARAM_INVALID;
	}
	/* The tag lengths keyward (and SP 800-38D 5.2.1.2 for general use)
	 * allows; the IV as the server takes it. */
	if (tag_bits < 96 || tag_bits > 128 || tag_bits % 8 != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (iv_len == 0 || iv_len > P11_GCM_IV_MAX || aad_len > P11_DATA_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	if ((rv = dup_bytes(iv, iv_len, &op->iv, &op->iv_len)) != CKR_OK ||
	    (rv = dup_bytes(aad, aad_len, &op->aad, &op->aad_len)) != CKR_OK)
		return rv;
	op->tag_bits = (unsigned)tag_bits;
	return CKR_OK;
}

static CK_RV ctr_params(struct p11_op *op, const CK_MECHANISM *m)
{
	const CK_AES_CTR_PARAMS *p = m->pParameter;

	if (p == NULL || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulCounterBits == 0 || p->ulCounterBits > 128)
		return CKR_MECHANISM_PARAM_INVALID;
	op->ctr_bits = p->ulCounterBits;
	return dup_bytes(p->cb, sizeof(p->cb), &op->iv, &op->iv_len);
}

CK_RV p11_aes_params(struct p11_op *op, const CK_MECHANISM *m)
{
	switch (op->mech->type) {
	case CKM_AES_GCM:
		return gcm_params(op, m);
	case CKM_AES_CTR:
		return ctr_params(op, m);
	case CKM_AES_ECB:
		if (m->pParameter != NULL || m->ulParameterLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		return CKR_OK;
	default: /* CBC, CBC_PAD: the IV is the parameter */
		if (m->pParameter == NULL || m->ulParameterLen != P11_AES_BLOCK)
			return CKR_MECHANISM_PARAM_INVALID;
		return dup_bytes(m->pParameter, P11_AES_BLOCK, &op->iv, &op->iv_len);
	}
}

/* The server counts with the whole 16-byte block; PKCS#11 with its low
 * ulCounterBits. They agree unless the low counter wraps within the input,
 * which is refused rather than answered differently (v2.40 2.10.5). */
static CK_RV ctr_check(const struct p11_op *op)
{
	unsigned __int128 v = 0, mask, blocks;

	for (size_t i = 0; i < P11_AES_BLOCK; i++)
		v = v << 8 | op->iv[i];
	mask = op->ctr_bits == 128 ? ~(unsigned __int128)0
	                           : ((unsigned __int128)1 << op->ctr_bits) - 1;
	blocks = (op->len + P11_AES_BLOCK - 1) / P11_AES_BLOCK;
	if (blocks > 0 && blocks - 1 > mask - (v & mask))
		return CKR_DATA_LEN_RANGE;
	return CKR_OK;
}

CK_RV p11_aes_out_len(const struct p11_op *op, bool decrypt, size_t *out)
{
	size_t n = op->len, tag = op->tag_bits / 8;

	switch (op->mech->type) {
	case CKM_AES_GCM:
		if (decrypt && n < tag)
			return CKR_ENCRYPTED_DATA_LEN_RANGE;
		*out = decrypt ? n - tag : n + tag;
		return CKR_OK;
	case CKM_AES_CBC_PAD:
		if (decrypt && (n == 0 || n % P11_AES_BLOCK != 0))
			return CKR_ENCRYPTED_DATA_LEN_RANGE;
		/* Decryption: an upper bound; the padding is 1 to 16 bytes. */
		*out = decrypt ? n : (n / P11_AES_BLOCK + 1) * P11_AES_BLOCK;
		return CKR_OK;
	case CKM_AES_CTR:
		*out = n;
		return ctr_check(op);
	default: /* CBC, ECB: whole blocks only (v2.40 2.10.2, 2.10.3) */
		if (n % P11_AES_BLOCK != 0)
			return decrypt ? CKR_ENCRYPTED_DATA_LEN_RANGE : CKR_DATA_LEN_RANGE;
		*out = n;
		return CKR_OK;
	}
}

struct cipher_call {
	const struct p11_op *op;
	bool decrypt;
	json_t *data;
};

static int cipher_fn(struct kw_client *c, void *arg)
{
	struct cipher_call *d = arg;
	const struct p11_op *op = d->op;
	struct kw_client_cipher_opts o = {
	    .decrypt = d->decrypt,
	    .mode = op->mech->aes_mode,
	    .iv = op->iv,
	    .iv_len = op->iv_len,
	    .aad = op->aad,
	    .aad_len = op->aad_len,
	    .tag_bits = op->tag_bits,
	};

	return kw_client_cipher(c, op->key->name, op->buf ? op->buf : (const uint8_t *)"", op->len,
	                        &o, &d->data);
}

CK_RV p11_aes_run(struct p11_op *op, CK_SLOT_ID slot, bool decrypt, uint8_t **out, size_t *outlen)
{
	struct cipher_call d = {.op = op, .decrypt = decrypt};
	CK_RV rv;

	if (p11_call(slot, "cipher", cipher_fn, &d, &rv) == 0 &&
	    kw_client_json_bytes(d.data, "output", out, outlen) != 0)
		rv = CKR_DEVICE_ERROR;
	kw_client_json_free(d.data);
	return rv;
}
