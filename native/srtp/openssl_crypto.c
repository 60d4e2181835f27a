/*
 * AES counter mode and HMAC-SHA1 for libsrtp2, from the OpenSSL inside node.
 *
 * Why: Debian builds libsrtp2 against NSS. Profiled in the relay at 1200-byte
 * packets, NSS's AES-CM and HMAC-SHA1 made libsrtp's protect about 10 µs a
 * packet, more than the whole plain relay spends on one; libsrtp's AES-GCM
 * through the same NSS costs about a third of that. libsrtp2 lets a program
 * swap the implementation of a cipher or authentication type in its crypto
 * kernel (srtp_replace_cipher_type, srtp_replace_auth_type, public in
 * <srtp2/cipher.h> and <srtp2/auth.h>), so libsrtp keeps everything SRTP
 * (key derivation, replay, rollover, packet layout) and only the two
 * primitives change. GCM stays NSS's: it is already fast.
 *
 * The OpenSSL is node's own (the node binary exports libcrypto's symbols for
 * addons; the headers come with node's), so nothing extra is linked.
 *
 * - AES-ICM (RFC 3711 §4.1.1): one EVP AES-CTR context per libsrtp cipher,
 *   keyed once; a new IV per packet is the counter block salt XOR IV, set
 *   without redoing the key schedule. Only the 128- and 256-bit keys are
 *   replaced: SRTP's AES-CM profiles and the GCM profiles' key derivation
 *   use those; 192 keeps libsrtp's own.
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
extern const srtp_auth_type_t srtp_hmac __attribute__((weak));
extern const srtp_cipher_test_case_t srtp_aes_icm_128_test_case_0 __attribute__((weak));
extern const srtp_cipher_test_case_t srtp_aes_icm_256_test_case_0 __attribute__((weak));
extern const srtp_auth_test_case_t srtp_hmac_test_case_0 __attribute__((weak));

/* ---------- AES-ICM ---------- */

typedef struct {
    EVP_CIPHER_CTX *evp;
    uint8_t salt[16]; /* the 14-byte salt, two zero bytes after it */
    int key_size;     /* 16 or 32 */
} icm_state;

static const srtp_cipher_type_t icm_128;
static const srtp_cipher_type_t icm_256;

static srtp_err_status_t icm_alloc(srtp_cipher_t **out, int key_len, int tag_len) {
    (void)tag_len;
    const srtp_cipher_type_t *type;
    int algorithm, key_size;
    if (key_len == SRTP_AES_ICM_128_KEY_LEN_WSALT) {
        type = &icm_128, algorithm = SRTP_AES_ICM_128, key_size = SRTP_AES_128_KEY_LEN;
    } else if (key_len == SRTP_AES_ICM_256_KEY_LEN_WSALT) {
        type = &icm_256, algorithm = SRTP_AES_ICM_256, key_size = SRTP_AES_256_KEY_LEN;
    } else {
        return srtp_err_status_bad_param;
    }
    srtp_cipher_t *cipher = calloc(1, sizeof *cipher);
    icm_state *state = calloc(1, sizeof *state);
    EVP_CIPHER_CTX *evp = EVP_CIPHER_CTX_new();
    if (cipher == NULL || state == NULL || evp == NULL) {
        EVP_CIPHER_CTX_free(evp);
        free(state);
        free(cipher);
        return srtp_err_status_alloc_fail;
    }
    state->evp = evp;
    state->key_size = key_size;
    cipher->type = type;
    cipher->state = state;
    cipher->key_len = key_len;
    cipher->algorithm = algorithm;
    *out = cipher;
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_dealloc(srtp_cipher_t *cipher) {
    if (cipher == NULL) return srtp_err_status_bad_param;
    icm_state *state = cipher->state;
    if (state != NULL) {
        EVP_CIPHER_CTX_free(state->evp); /* zeroes the key schedule */
        OPENSSL_cleanse(state, sizeof *state);
        free(state);
    }
    free(cipher);
    return srtp_err_status_ok;
}

/* key: the AES key, then the 14-byte salt. */
static srtp_err_status_t icm_init(void *opaque, const uint8_t *key) {
    icm_state *state = opaque;
    memset(state->salt, 0, sizeof state->salt);
    memcpy(state->salt, key + state->key_size, SRTP_SALT_LEN);
    const EVP_CIPHER *aes = state->key_size == SRTP_AES_256_KEY_LEN ? EVP_aes_256_ctr()
                                                                     : EVP_aes_128_ctr();
    if (EVP_CIPHER_CTX_reset(state->evp) != 1 ||
        EVP_EncryptInit_ex(state->evp, aes, NULL, key, NULL) != 1) {
        return srtp_err_status_init_fail;
    }
    return srtp_err_status_ok;
}

static srtp_err_status_t icm_set_iv(void *opaque, uint8_t *iv, srtp_cipher_direction_t direction) {
    (void)direction; /* counter mode: the same either way */
    icm_state *state = opaque;
    uint8_t counter[16];
    for (int i = 0; i < 16; i++) counter[i] = state->salt[i] ^ iv[i];
    if (EVP_EncryptInit_ex(state->evp, NULL, NULL, NULL, counter) != 1) {
        return srtp_err_status_cipher_fail;
    }
    return srtp_err_status_ok;
}

/* In place; successive calls continue one keystream (libsrtp's key derivation relies on it). */
static srtp_err_status_t icm_crypt(void *opaque, uint8_t *buffer, unsigned int *length) {
    icm_state *state = opaque;
    if (*length > 0x7fffffffu) return srtp_err_status_bad_param;
    int written = 0;
    if (EVP_EncryptUpdate(state->evp, buffer, &written, buffer, (int)*length) != 1 ||
        written != (int)*length) {
        return srtp_err_status_cipher_fail;
    }
    return srtp_err_status_ok;
}

static const srtp_cipher_type_t icm_128 = {
    icm_alloc, icm_dealloc, icm_init, NULL, icm_crypt, icm_crypt, icm_set_iv, NULL,
    "AES-128 counter mode (OpenSSL, streammesh)", &srtp_aes_icm_128_test_case_0, SRTP_AES_ICM_128,
};
static const srtp_cipher_type_t icm_256 = {
    icm_alloc, icm_dealloc, icm_init, NULL, icm_crypt, icm_crypt, icm_set_iv, NULL,
    "AES-256 counter mode (OpenSSL, streammesh)", &srtp_aes_icm_256_test_case_0, SRTP_AES_ICM_256,
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
    if (&srtp_aes_icm_128_test_case_0 == NULL || &srtp_aes_icm_256_test_case_0 == NULL ||
        &srtp_hmac_test_case_0 == NULL || &srtp_aes_icm_128 == NULL ||
        &srtp_aes_icm_256 == NULL || &srtp_hmac == NULL) {
        return srtp_err_status_no_such_op; /* this libsrtp2 does not export its vectors */
    }
    /* Each replacement runs libsrtp's known-answer and round-trip tests on the new type first. */
    srtp_err_status_t status;
    if ((status = srtp_replace_cipher_type(&icm_128, SRTP_AES_ICM_128))) return status;
    if ((status = srtp_replace_cipher_type(&icm_256, SRTP_AES_ICM_256)) ||
        (status = srtp_replace_auth_type(&hmac_sha1, SRTP_HMAC_SHA1))) {
        srtp_replace_cipher_type(&srtp_aes_icm_128, SRTP_AES_ICM_128);
        srtp_replace_cipher_type(&srtp_aes_icm_256, SRTP_AES_ICM_256);
        return status;
    }
    return srtp_err_status_ok;
}
