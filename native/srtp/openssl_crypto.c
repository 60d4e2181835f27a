/*
 * AES (counter mode, GCM) and HMAC-SHA1 for libsrtp2, from the OpenSSL inside node.
 *
 * Why: Debian builds libsrtp2 against NSS. Profiled in the relay at 1200-byte
 * packets, NSS's AES-CM and HMAC-SHA1 made libsrtp's protect about 10 µs a
 * packet, more than the whole plain relay spends on one; libsrtp's AES-GCM
 * through the same NSS costs about a third of that. libsrtp2 lets a program
 * swap the implementation of a cipher or authentication type in its crypto
 * kernel (srtp_replace_cipher_type, srtp_replace_auth_type, public in
 * <srtp2/cipher.h> and <srtp2/auth.h>), so libsrtp keeps everything SRTP
 * (key derivation, replay, rollover, packet layout) and only the
 * primitives change. AES-GCM through NSS was cheaper, but still about 1.3
 * µs for a 200-byte packet from C against 0.6 µs with OpenSSL, and the
 * mesh's own hops use GCM, so it moves too.
 *
 * The OpenSSL is node's own (the node binary exports libcrypto's symbols for
 * addons; the headers come with node's), so nothing extra is linked.
 *
 * - AES-ICM (RFC 3711 §4.1.1): one EVP AES-CTR context per libsrtp cipher,
 *   keyed once; a new IV per packet is the counter block salt XOR IV, set
 *   without redoing the key schedule. Only the 128- and 256-bit keys are
 *   replaced: SRTP's AES-CM profiles and the GCM profiles' key derivation
 *   use those; 192 keeps libsrtp's own.
 * - AES-GCM (RFC 7714): one EVP GCM context per libsrtp cipher, keyed once;
 *   libsrtp computes the 12-byte IV (salt included) and hands in the AAD,
 *   then the data to encrypt in place, then asks for the tag; to decrypt it
 *   hands in the data with the tag at its end, and gets auth_fail when the
 *   tag does not match.
 * - HMAC-SHA1 (RFC 2104): the inner and outer SHA-1 states after the keyed
 *   pad blocks are computed once per key; a packet copies them (plain
 *   structs) instead of re-keying. This needs OpenSSL's SHA1_* functions,
 *   deprecated in 3.0 for the EVP API, whose context copy allocates: hence
 *   OPENSSL_API_COMPAT below.
 * - Known answers: libsrtp's kernel tests a type before it takes it, with
 *   the type's vectors; these are libsrtp's own (weak symbols of libsrtp2.so:
 *   without them nothing is replaced).
 */
#define OPENSSL_API_COMPAT 10101
#include "openssl_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <stdlib.h>
#include <string.h>

/* libsrtp2's own types and vectors: exported by the library, not declared in its headers. */
extern const srtp_cipher_type_t srtp_aes_icm_128 __attribute__((weak));
extern const srtp_cipher_type_t srtp_aes_icm_256 __attribute__((weak));
extern const srtp_cipher_type_t srtp_aes_gcm_128 __attribute__((weak));
extern const srtp_cipher_type_t srtp_aes_gcm_256 __attribute__((weak));
extern const srtp_auth_type_t srtp_hmac __attribute__((weak));
extern const srtp_cipher_test_case_t srtp_aes_icm_128_test_case_0 __attribute__((weak));
extern const srtp_cipher_test_case_t srtp_aes_icm_256_test_case_0 __attribute__((weak));
extern const srtp_cipher_test_case_t srtp_aes_gcm_128_test_case_0 __attribute__((weak));
extern const srtp_cipher_test_case_t srtp_aes_gcm_256_test_case_0 __attribute__((weak));
extern const srtp_auth_test_case_t srtp_hmac_test_case_0 __attribute__((weak));

/* ---------- what the AES ciphers share ---------- */

/* The first member of every cipher state here. */
typedef struct {
    EVP_CIPHER_CTX *evp;
    int key_size;      /* 16 or 32 */
    size_t state_size; /* of the whole state, to zero it */
} evp_state;

/* A libsrtp cipher of `type`, its state `state_size` zeroed bytes that start with an evp_state. */
static srtp_err_status_t evp_cipher_alloc(srtp_cipher_t **out, const srtp_cipher_type_t *type,
                                          int algorithm, int key_len, int key_size,
                                          size_t state_size) {
    srtp_cipher_t *cipher = calloc(1, sizeof *cipher);
    evp_state *state = calloc(1, state_size);
    EVP_CIPHER_CTX *evp = EVP_CIPHER_CTX_new();
    if (cipher == NULL || state == NULL || evp == NULL) {
        EVP_CIPHER_CTX_free(evp);
        free(state);
        free(cipher);
        return srtp_err_status_alloc_fail;
    }
    state->evp = evp;
    state->key_size = key_size;
    state->state_size = state_size;
    cipher->type = type;
    cipher->state = state;
    cipher->key_len = key_len;
    cipher->algorithm = algorithm;
    *out = cipher;
    return srtp_err_status_ok;
}

static srtp_err_status_t evp_cipher_dealloc(srtp_cipher_t *cipher) {
    if (cipher == NULL) return srtp_err_status_bad_param;
    evp_state *state = cipher->state;
    if (state != NULL) {
        size_t size = state->state_size;
        EVP_CIPHER_CTX_free(state->evp); /* zeroes the key schedule */
        OPENSSL_cleanse(state, size);
        free(state);
    }
    free(cipher);
    return srtp_err_status_ok;
}

/* ---------- AES-ICM ---------- */

typedef struct {
    evp_state base;
    uint8_t salt[16]; /* the 14-byte salt, two zero bytes after it */
} icm_state;

static const srtp_cipher_type_t icm_128;
static const srtp_cipher_type_t icm_256;

static srtp_err_status_t icm_alloc(srtp_cipher_t **out, int key_len, int tag_len) {
    (void)tag_len;
    if (key_len == SRTP_AES_ICM_128_KEY_LEN_WSALT) {
        return evp_cipher_alloc(out, &icm_128, SRTP_AES_ICM_128, key_len, SRTP_AES_128_KEY_LEN,
                                sizeof(icm_state));
    }
    if (key_len == SRTP_AES_ICM_256_KEY_LEN_WSALT) {
        return evp_cipher_alloc(out, &icm_256, SRTP_AES_ICM_256, key_len, SRTP_AES_256_KEY_LEN,
                                sizeof(icm_state));
    }
    return srtp_err_status_bad_param;
}

/* key: the AES key, then the 14-byte salt. */
static srtp_err_status_t icm_init(void *opaque, const uint8_t *key) {
    icm_state *state = opaque;
    memset(state->salt, 0, sizeof state->salt);
    memcpy(state->salt, key + state->base.key_size, SRTP_SALT_LEN);
    const EVP_CIPHER *aes =
        state->base.key_size == SRTP_AES_256_KEY_LEN ? EVP_aes_256_ctr() : EVP_aes_128_ctr();
    if (EVP_CIPHER_CTX_reset(state->base.evp) != 1 ||
        EVP_EncryptInit_ex(state->base.evp, aes, NULL, key, NULL) != 1) {
        return srtp_err_status_init_fail;
    }
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_set_iv(void *opaque, uint8_t *iv, srtp_cipher_direction_t direction) {
    (void)direction; /* counter mode: the same either way */
    icm_state *state = opaque;
    uint8_t counter[16];
    for (int i = 0; i < 16; i++) counter[i] = state->salt[i] ^ iv[i];
    if (EVP_EncryptInit_ex(state->base.evp, NULL, NULL, NULL, counter) != 1) {
        return srtp_err_status_cipher_fail;
    }
    return srtp_err_status_ok;
}

/* In place; successive calls continue one keystream (libsrtp's key derivation relies on it). */
static srtp_err_status_t icm_crypt(void *opaque, uint8_t *buffer, unsigned int *length) {
    icm_state *state = opaque;
    if (*length > 0x7fffffffu) return srtp_err_status_bad_param;
    int written = 0;
    if (EVP_EncryptUpdate(state->base.evp, buffer, &written, buffer, (int)*length) != 1 ||
        written != (int)*length) {
        return srtp_err_status_cipher_fail;
    }
    return srtp_err_status_ok;
}

static const srtp_cipher_type_t icm_128 = {
    icm_alloc, evp_cipher_dealloc, icm_init, NULL, icm_crypt, icm_crypt, icm_set_iv, NULL,
    "AES-128 counter mode (OpenSSL, streammesh)", &srtp_aes_icm_128_test_case_0, SRTP_AES_ICM_128,
};
static const srtp_cipher_type_t icm_256 = {
    icm_alloc, evp_cipher_dealloc, icm_init, NULL, icm_crypt, icm_crypt, icm_set_iv, NULL,
    "AES-256 counter mode (OpenSSL, streammesh)", &srtp_aes_icm_256_test_case_0, SRTP_AES_ICM_256,
};

/* ---------- AES-GCM ---------- */

#define GCM_IV 12

typedef struct {
    evp_state base;
    int tag_len; /* 8 or 16 */
    int decrypting;
} gcm_state;

static const srtp_cipher_type_t gcm_128;
static const srtp_cipher_type_t gcm_256;

static srtp_err_status_t gcm_alloc(srtp_cipher_t **out, int key_len, int tag_len) {
    if (tag_len != 8 && tag_len != 16) return srtp_err_status_bad_param;
    srtp_err_status_t status;
    if (key_len == SRTP_AES_GCM_128_KEY_LEN_WSALT) {
        status = evp_cipher_alloc(out, &gcm_128, SRTP_AES_GCM_128, key_len, SRTP_AES_128_KEY_LEN,
                                  sizeof(gcm_state));
    } else if (key_len == SRTP_AES_GCM_256_KEY_LEN_WSALT) {
        status = evp_cipher_alloc(out, &gcm_256, SRTP_AES_GCM_256, key_len, SRTP_AES_256_KEY_LEN,
                                  sizeof(gcm_state));
    } else {
        return srtp_err_status_bad_param;
    }
    if (status == srtp_err_status_ok) ((gcm_state *)(*out)->state)->tag_len = tag_len;
    return status;
}

/* key: the AES key (libsrtp applies the salt to the IV itself). */
static srtp_err_status_t gcm_init(void *opaque, const uint8_t *key) {
    gcm_state *state = opaque;
    const EVP_CIPHER *aes =
        state->base.key_size == SRTP_AES_256_KEY_LEN ? EVP_aes_256_gcm() : EVP_aes_128_gcm();
    if (EVP_CIPHER_CTX_reset(state->base.evp) != 1 ||
        EVP_CipherInit_ex(state->base.evp, aes, NULL, key, NULL, 1) != 1 ||
        EVP_CIPHER_CTX_ctrl(state->base.evp, EVP_CTRL_GCM_SET_IVLEN, GCM_IV, NULL) != 1) {
        return srtp_err_status_init_fail;
    }
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_iv(void *opaque, uint8_t *iv, srtp_cipher_direction_t direction) {
    gcm_state *state = opaque;
    if (direction != srtp_direction_encrypt && direction != srtp_direction_decrypt) {
        return srtp_err_status_bad_param;
    }
    state->decrypting = direction == srtp_direction_decrypt;
    if (EVP_CipherInit_ex(state->base.evp, NULL, NULL, NULL, iv, state->decrypting ? 0 : 1) != 1) {
        return srtp_err_status_init_fail;
    }
    return srtp_err_status_ok;
}

/* Called once or twice per packet (SRTCP: header, then E|index) before the data. */
static srtp_err_status_t gcm_set_aad(void *opaque, const uint8_t *aad, uint32_t length) {
    gcm_state *state = opaque;
    if (length > 0x7fffffffu) return srtp_err_status_bad_param;
    int written = 0;
    if (EVP_CipherUpdate(state->base.evp, NULL, &written, aad, (int)length) != 1) {
        return srtp_err_status_algo_fail;
    }
    return srtp_err_status_ok;
}

/* In place; the tag is get_tag's. */
static srtp_err_status_t gcm_encrypt(void *opaque, uint8_t *buffer, unsigned int *length) {
    gcm_state *state = opaque;
    if (state->decrypting || *length > 0x7fffffffu) return srtp_err_status_bad_param;
    int written = 0;
    if (EVP_CipherUpdate(state->base.evp, buffer, &written, buffer, (int)*length) != 1 ||
        written != (int)*length) {
        return srtp_err_status_cipher_fail;
    }
    return srtp_err_status_ok;
}

static srtp_err_status_t gcm_get_tag(void *opaque, uint8_t *tag, uint32_t *length) {
    gcm_state *state = opaque;
    int written = 0;
    uint8_t none[16];
    if (state->decrypting || EVP_CipherFinal_ex(state->base.evp, none, &written) != 1 ||
        EVP_CIPHER_CTX_ctrl(state->base.evp, EVP_CTRL_GCM_GET_TAG, state->tag_len, tag) != 1) {
        return srtp_err_status_algo_fail;
    }
    *length = (uint32_t)state->tag_len;
    return srtp_err_status_ok;
}

/* `length` counts the tag at the end of `buffer`; on success it no longer does. */
static srtp_err_status_t gcm_decrypt(void *opaque, uint8_t *buffer, unsigned int *length) {
    gcm_state *state = opaque;
    if (!state->decrypting || *length > 0x7fffffffu) return srtp_err_status_bad_param;
    if (*length < (unsigned int)state->tag_len) return srtp_err_status_auth_fail;
    int data = (int)*length - state->tag_len;
    int written = 0;
    uint8_t none[16];
    uint8_t *tag = buffer + data;
    if (EVP_CIPHER_CTX_ctrl(state->base.evp, EVP_CTRL_GCM_SET_TAG, state->tag_len, tag) != 1 ||
        EVP_CipherUpdate(state->base.evp, buffer, &written, buffer, data) != 1 || written != data) {
        return srtp_err_status_cipher_fail;
    }
    if (EVP_CipherFinal_ex(state->base.evp, none, &written) != 1) return srtp_err_status_auth_fail;
    *length = (unsigned int)data;
    return srtp_err_status_ok;
}

static const srtp_cipher_type_t gcm_128 = {
    gcm_alloc, evp_cipher_dealloc, gcm_init, gcm_set_aad, gcm_encrypt, gcm_decrypt, gcm_set_iv,
    gcm_get_tag, "AES-128 GCM (OpenSSL, streammesh)", &srtp_aes_gcm_128_test_case_0,
    SRTP_AES_GCM_128,
};
static const srtp_cipher_type_t gcm_256 = {
    gcm_alloc, evp_cipher_dealloc, gcm_init, gcm_set_aad, gcm_encrypt, gcm_decrypt, gcm_set_iv,
    gcm_get_tag, "AES-256 GCM (OpenSSL, streammesh)", &srtp_aes_gcm_256_test_case_0,
    SRTP_AES_GCM_256,
};

/* ---------- HMAC-SHA1 ---------- */

#define SHA1_BLOCK 64

typedef struct {
    SHA_CTX inner; /* after the key XOR ipad block */
    SHA_CTX outer; /* after the key XOR opad block */
    SHA_CTX message; /* the packet being authenticated */
} hmac_state;

static const srtp_auth_type_t hmac_sha1;

static srtp_err_status_t hmac_alloc(srtp_auth_t **out, int key_len, int out_len) {
    if (out_len < 0 || out_len > SHA_DIGEST_LENGTH || key_len < 0) return srtp_err_status_bad_param;
    srtp_auth_t *auth = calloc(1, sizeof *auth);
    hmac_state *state = calloc(1, sizeof *state);
    if (auth == NULL || state == NULL) {
        free(state);
        free(auth);
        return srtp_err_status_alloc_fail;
    }
    auth->type = &hmac_sha1;
    auth->state = state;
    auth->out_len = out_len;
    auth->key_len = key_len;
    auth->prefix_len = 0;
    *out = auth;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_dealloc(srtp_auth_t *auth) {
    if (auth == NULL) return srtp_err_status_bad_param;
    if (auth->state != NULL) {
        OPENSSL_cleanse(auth->state, sizeof(hmac_state));
        free(auth->state);
    }
    free(auth);
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_init(void *opaque, const uint8_t *key, int key_len) {
    hmac_state *state = opaque;
    if (key_len < 0) return srtp_err_status_bad_param;
    uint8_t block[SHA1_BLOCK] = {0};
    /* RFC 2104 §2: a key longer than the block is hashed first. */
    if (key_len > SHA1_BLOCK) {
        SHA1(key, (size_t)key_len, block);
    } else {
        memcpy(block, key, (size_t)key_len);
    }
    uint8_t pad[SHA1_BLOCK];
    int ok = 1;
    for (int i = 0; i < SHA1_BLOCK; i++) pad[i] = block[i] ^ 0x36;
    ok &= SHA1_Init(&state->inner) == 1 && SHA1_Update(&state->inner, pad, sizeof pad) == 1;
    for (int i = 0; i < SHA1_BLOCK; i++) pad[i] = block[i] ^ 0x5c;
    ok &= SHA1_Init(&state->outer) == 1 && SHA1_Update(&state->outer, pad, sizeof pad) == 1;
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    state->message = state->inner;
    return ok ? srtp_err_status_ok : srtp_err_status_auth_fail;
}

static srtp_err_status_t hmac_start(void *opaque) {
    hmac_state *state = opaque;
    state->message = state->inner;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_update(void *opaque, const uint8_t *data, int length) {
    hmac_state *state = opaque;
    if (length < 0) return srtp_err_status_bad_param;
    return SHA1_Update(&state->message, data, (size_t)length) == 1 ? srtp_err_status_ok
                                                                    : srtp_err_status_auth_fail;
}

/* The last bytes of the message, then the tag's first tag_len bytes into `tag`. */
static srtp_err_status_t hmac_compute(void *opaque, const uint8_t *data, int length, int tag_len,
                                      uint8_t *tag) {
    hmac_state *state = opaque;
    if (length < 0 || tag_len < 0 || tag_len > SHA_DIGEST_LENGTH) return srtp_err_status_bad_param;
    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA_CTX outer = state->outer;
    int ok = SHA1_Update(&state->message, data, (size_t)length) == 1 &&
             SHA1_Final(digest, &state->message) == 1 &&
             SHA1_Update(&outer, digest, sizeof digest) == 1 && SHA1_Final(digest, &outer) == 1;
    if (ok) memcpy(tag, digest, (size_t)tag_len);
    OPENSSL_cleanse(digest, sizeof digest);
    OPENSSL_cleanse(&outer, sizeof outer);
    return ok ? srtp_err_status_ok : srtp_err_status_auth_fail;
}

static const srtp_auth_type_t hmac_sha1 = {
    hmac_alloc, hmac_dealloc, hmac_init, hmac_compute, hmac_update, hmac_start,
    "HMAC-SHA1 (OpenSSL, streammesh)", &srtp_hmac_test_case_0, SRTP_HMAC_SHA1,
};

/* ---------- registration ---------- */

srtp_err_status_t use_openssl_crypto(void) {
    const struct {
        const srtp_cipher_type_t *ours, *own;
        const srtp_cipher_test_case_t *vectors;
        srtp_cipher_type_id_t id;
    } ciphers[] = {
        {&icm_128, &srtp_aes_icm_128, &srtp_aes_icm_128_test_case_0, SRTP_AES_ICM_128},
        {&icm_256, &srtp_aes_icm_256, &srtp_aes_icm_256_test_case_0, SRTP_AES_ICM_256},
        {&gcm_128, &srtp_aes_gcm_128, &srtp_aes_gcm_128_test_case_0, SRTP_AES_GCM_128},
        {&gcm_256, &srtp_aes_gcm_256, &srtp_aes_gcm_256_test_case_0, SRTP_AES_GCM_256},
    };
    const int count = (int)(sizeof ciphers / sizeof ciphers[0]);
    if (&srtp_hmac == NULL || &srtp_hmac_test_case_0 == NULL) return srtp_err_status_no_such_op;
    for (int i = 0; i < count; i++) {
        /* This libsrtp2 does not export its own types or vectors. */
        if (ciphers[i].own == NULL || ciphers[i].vectors == NULL) return srtp_err_status_no_such_op;
    }
    /* Each replacement runs libsrtp's known-answer and round-trip tests on the new type first. */
    srtp_err_status_t status = srtp_replace_auth_type(&hmac_sha1, SRTP_HMAC_SHA1);
    if (status != srtp_err_status_ok) return status;
    for (int i = 0; i < count; i++) {
        status = srtp_replace_cipher_type(ciphers[i].ours, ciphers[i].id);
        if (status == srtp_err_status_ok) continue;
        /* All or none: put libsrtp's own back. */
        for (int j = 0; j < i; j++) srtp_replace_cipher_type(ciphers[j].own, ciphers[j].id);
        srtp_replace_auth_type(&srtp_hmac, SRTP_HMAC_SHA1);
        return status;
    }
    return srtp_err_status_ok;
}
