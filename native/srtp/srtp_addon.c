/*
 * SRTP and SRTCP through libsrtp2 (issue 20, point 2), for the TypeScript
 * engine in src/protocol/srtp/libsrtp-transform.ts. The node:crypto engine
 * created cipher and HMAC objects per packet; here a packet costs a memcpy
 * into a buffer the wrapper owns and one libsrtp call, nothing allocated.
 *
 * Why it is shaped this way:
 * - One context per SrtpSession holds four libsrtp sessions, one per kind of
 *   state: RTP send, RTP receive, RTCP send, RTCP receive. libsrtp keeps one
 *   replay database per SSRC shared by protect and unprotect, and RTP and
 *   RTCP state in one stream; the TypeScript session keeps the four apart
 *   (one SsrcTable each, least recently used evicted on its own), so that
 *   forgetting an SSRC's RTP receive state (removeStream) leaves its RTCP
 *   state alone, as the node:crypto engine does. Each libsrtp session is
 *   created on first use: a receive-only session never derives send keys.
 * - transform() copies the input into `work` (memmove: the input may be a
 *   view of that same buffer) and protects or unprotects it in place there.
 *   Every length is checked here before libsrtp sees the packet, whatever
 *   the TypeScript side checked already: RTP header (version, CSRCs,
 *   extension) within the packet, room for the trailer and MKI in `work`,
 *   tag and MKI within the packet. Bad arguments return a negative code,
 *   never read or write out of bounds, never throw on packet data.
 * - The MKI (RFC 3711 §3.1) is put in and taken out here rather than by
 *   libsrtp's MKI support: it is not authenticated, so the bytes are the
 *   same, and it keeps libsrtp's key set to one key.
 * - libsrtp's state is checked against the TypeScript session's after each
 *   call (for RTP the ROC of the SSRC's highest index, which libsrtp exposes;
 *   for SRTCP the index it wrote): both follow the same algorithm from the
 *   same state, and a disagreement would otherwise send packets their
 *   receiver cannot authenticate. It returns CODE_DIVERGED.
 * - srtp_init() runs once per process (pthread_once), and with it the
 *   choice of libsrtp's primitives (openssl_crypto.c): contexts may be
 *   created in worker threads; the only other process-wide mutable state is
 *   an atomic count of live contexts (for tests). A context is used by the
 *   one thread that created it.
 * - The context (keys zeroed) and its libsrtp sessions are freed by the
 *   finalizer of the JavaScript handle.
 */
#include <arpa/inet.h>
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openssl_crypto.h"

#define KIND_RTP_TX 0
#define KIND_RTP_RX 1
#define KIND_RTCP_TX 2
#define KIND_RTCP_RX 3

/* Negative results of transform() other than -(srtp_err_status_t). */
#define CODE_TOO_SHORT -101
#define CODE_BAD_HEADER -102
#define CODE_BAD_MKI -103
#define CODE_NO_ROOM -104
#define CODE_DIVERGED -105
#define CODE_NO_SESSION -106

#define MAX_MKI 128
#define MAX_KEY 46 /* 32-byte key + 14-byte salt */
#define SRTCP_TRAILER 4

typedef struct {
    srtp_t sessions[4];
    srtp_profile_t profile;
    unsigned char key[MAX_KEY];
    int rtp_tag;  /* bytes after the MKI in SRTP: AES-CM tag, 0 for GCM */
    int rtcp_tag; /* bytes after the MKI in SRTCP */
    int rtp_overhead;  /* tag bytes SRTP adds (without MKI) */
    int rtcp_overhead; /* E|index and tag bytes SRTCP adds (without MKI) */
    unsigned long windows[4];
    unsigned char mki[MAX_MKI];
    int mki_len;
} srtp_context;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* Contexts alive in the process (all threads): atomic, read by tests to see finalizers run. */
static long live_contexts = 0;
static srtp_err_status_t init_status = srtp_err_status_init_fail;

/* Whose AES (CM, GCM) and HMAC-SHA1 libsrtp uses: "openssl", or "libsrtp" and why. */
static char crypto_in_use[96] = "libsrtp";

/*
 * STREAMMESH_PROXY_SRTP_CRYPTO=libsrtp keeps libsrtp's own primitives (NSS in
 * Debian's build), for measuring one against the other; anything else asks
 * for OpenSSL's (openssl_crypto.c).
 */
static void init_libsrtp(void) {
    init_status = srtp_init();
    if (init_status != srtp_err_status_ok) return;
    const char *choice = getenv("STREAMMESH_PROXY_SRTP_CRYPTO");
    if (choice != NULL && strcmp(choice, "libsrtp") == 0) {
        snprintf(crypto_in_use, sizeof crypto_in_use, "libsrtp (STREAMMESH_PROXY_SRTP_CRYPTO)");
        return;
    }
    srtp_err_status_t status = use_openssl_crypto();
    if (status == srtp_err_status_ok) {
        snprintf(crypto_in_use, sizeof crypto_in_use, "openssl");
    } else {
        snprintf(crypto_in_use, sizeof crypto_in_use, "libsrtp (OpenSSL refused: status %d)",
                 status);
    }
}

/* ---------- helpers ---------- */

/*
 * An N-API call that fails (an exception pending, an engine shutting down)
 * ends the function with nothing returned: JavaScript then sees the pending
 * exception, or undefined, never a value read from an unset napi_value.
 */
#define CALL(expression)                                                                           \
    do {                                                                                           \
        if ((expression) != napi_ok) return NULL;                                                  \
    } while (0)

static napi_value throw_type(napi_env env, const char *message) {
    napi_throw_type_error(env, "ERR_SRTP_NATIVE_ARGUMENT", message);
    return NULL;
}

static napi_value number(napi_env env, int32_t value) {
    napi_value result;
    CALL(napi_create_int32(env, value, &result));
    return result;
}

static int get_int(napi_env env, napi_value value, int32_t *out) {
    return napi_get_value_int32(env, value, out) == napi_ok;
}

/*
 * A Buffer's (any Uint8Array's) bytes in one N-API call: anything else is
 * refused (napi_invalid_arg, no exception). `data` includes the view's offset.
 */
static int get_buffer(napi_env env, napi_value value, uint8_t **data, size_t *length) {
    napi_typedarray_type type;
    void *raw = NULL;
    if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok ||
        type != napi_uint8_array) {
        return 0;
    }
    *data = (uint8_t *)raw;
    return 1;
}

/*
 * Marks the handles this addon makes: an object of any other origin (another
 * addon's wrapped object) is refused as a handle instead of being read as a
 * context.
 */
static const napi_type_tag CONTEXT_TAG = {0x5e7f0c2a9b4d4e61ULL, 0xa3d8b1c6f02e7d95ULL};

/* The context of a handle (for removeStream; the handle's own calls get it bound). */
static int get_context(napi_env env, napi_value value, srtp_context **out) {
    bool tagged = false;
    if (napi_check_object_type_tag(env, value, &CONTEXT_TAG, &tagged) != napi_ok || !tagged) return 0;
    void *raw = NULL;
    if (napi_unwrap(env, value, &raw) != napi_ok || raw == NULL) return 0;
    *out = (srtp_context *)raw;
    return 1;
}

/* RFC 3550 §5.1: header length with CSRCs and extension, or -1 past `end`. */
static int rtp_header_length(const uint8_t *packet, int end) {
    if (end < 12 || (packet[0] >> 6) != 2) return -1;
    int length = 12 + (packet[0] & 0x0f) * 4;
    if (packet[0] & 0x10) {
        if (length + 4 > end) return -1;
        length += 4 + ((packet[length + 2] << 8) | packet[length + 3]) * 4;
    }
    return length <= end ? length : -1;
}

static uint32_t read_u32(const uint8_t *at) {
    return ((uint32_t)at[0] << 24) | ((uint32_t)at[1] << 16) | ((uint32_t)at[2] << 8) | at[3];
}

static srtp_t session_for(srtp_context *ctx, int kind) {
    if (ctx->sessions[kind] != NULL) return ctx->sessions[kind];
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, ctx->profile) != srtp_err_status_ok ||
        srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, ctx->profile) !=
            srtp_err_status_ok) {
        return NULL;
    }
    int sending = kind == KIND_RTP_TX || kind == KIND_RTCP_TX;
    policy.ssrc.type = sending ? ssrc_any_outbound : ssrc_any_inbound;
    policy.ssrc.value = 0;
    policy.key = ctx->key;
    policy.window_size = ctx->windows[kind];
    /* A relay forwards an index it protected once more (a retransmission);
     * whether to refuse it (freshIndicesOnly) is the TypeScript session's call. */
    policy.allow_repeat_tx = 1;
    policy.next = NULL;
    srtp_t session = NULL;
    if (srtp_create(&session, &policy) != srtp_err_status_ok) return NULL;
    ctx->sessions[kind] = session;
    return session;
}

/* ---------- the operations ---------- */

/* Copies and protects one RTP packet; returns its new length or a negative code. */
static int protect_rtp(srtp_context *ctx, uint8_t *work, size_t capacity, const uint8_t *input,
                       int length, uint32_t expected_stream_roc) {
    if (length < 12) return CODE_TOO_SHORT;
    if ((size_t)length + SRTP_MAX_TRAILER_LEN + ctx->mki_len > capacity) return CODE_NO_ROOM;
    memmove(work, input, (size_t)length);
    if (rtp_header_length(work, length) < 0) return CODE_BAD_HEADER;
    srtp_t session = session_for(ctx, KIND_RTP_TX);
    if (session == NULL) return CODE_NO_SESSION;
    int out = length;
    srtp_err_status_t status = srtp_protect(session, work, &out);
    if (status != srtp_err_status_ok) return -(int)status;
    uint32_t roc = 0;
    if (srtp_get_stream_roc(session, read_u32(work + 8), &roc) != srtp_err_status_ok ||
        roc != expected_stream_roc) {
        return CODE_DIVERGED;
    }
    if (ctx->mki_len > 0) {
        int split = out - ctx->rtp_tag;
        memmove(work + split + ctx->mki_len, work + split, (size_t)ctx->rtp_tag);
        memcpy(work + split, ctx->mki, (size_t)ctx->mki_len);
        out += ctx->mki_len;
    }
    return out;
}

/* Where the MKI sits (the packet without it is `length - mki_len` long), after a check. */
static int strip_mki(srtp_context *ctx, uint8_t *work, int length, int bytes_after) {
    if (ctx->mki_len == 0) return length;
    int at = length - bytes_after - ctx->mki_len;
    if (at < 0) return CODE_TOO_SHORT;
    if (memcmp(work + at, ctx->mki, (size_t)ctx->mki_len) != 0) return CODE_BAD_MKI;
    memmove(work + at, work + at + ctx->mki_len, (size_t)bytes_after);
    return length - ctx->mki_len;
}

static int unprotect_rtp(srtp_context *ctx, uint8_t *work, size_t capacity, const uint8_t *input,
                         int length, uint32_t expected_stream_roc) {
    if ((size_t)length > capacity) return CODE_NO_ROOM;
    memmove(work, input, (size_t)length);
    int plain = strip_mki(ctx, work, length, ctx->rtp_tag);
    if (plain < 0) return plain;
    if (plain - ctx->rtp_overhead < 12) return CODE_TOO_SHORT;
    if (rtp_header_length(work, plain - ctx->rtp_overhead) < 0) return CODE_BAD_HEADER;
    srtp_t session = session_for(ctx, KIND_RTP_RX);
    if (session == NULL) return CODE_NO_SESSION;
    int out = plain;
    srtp_err_status_t status = srtp_unprotect(session, work, &out);
    if (status != srtp_err_status_ok) return -(int)status;
    uint32_t roc = 0;
    if (srtp_get_stream_roc(session, read_u32(work + 8), &roc) != srtp_err_status_ok ||
        roc != expected_stream_roc) {
        return CODE_DIVERGED;
    }
    return out;
}

static int protect_rtcp(srtp_context *ctx, uint8_t *work, size_t capacity, const uint8_t *input,
                        int length, uint32_t expected_index) {
    if (length < 8) return CODE_TOO_SHORT;
    if ((size_t)length + SRTCP_TRAILER + SRTP_MAX_TRAILER_LEN + ctx->mki_len > capacity) {
        return CODE_NO_ROOM;
    }
    memmove(work, input, (size_t)length);
    if ((work[0] >> 6) != 2) return CODE_BAD_HEADER;
    srtp_t session = session_for(ctx, KIND_RTCP_TX);
    if (session == NULL) return CODE_NO_SESSION;
    int out = length;
    srtp_err_status_t status = srtp_protect_rtcp(session, work, &out);
    if (status != srtp_err_status_ok) return -(int)status;
    if (out != length + ctx->rtcp_overhead) return CODE_DIVERGED;
    int word_at = ctx->rtcp_tag == 0 ? out - SRTCP_TRAILER : out - ctx->rtcp_tag - SRTCP_TRAILER;
    if ((read_u32(work + word_at) & 0x7fffffff) != expected_index) return CODE_DIVERGED;
    if (ctx->mki_len > 0) {
        int split = out - ctx->rtcp_tag;
        memmove(work + split + ctx->mki_len, work + split, (size_t)ctx->rtcp_tag);
        memcpy(work + split, ctx->mki, (size_t)ctx->mki_len);
        out += ctx->mki_len;
    }
    return out;
}

static int unprotect_rtcp(srtp_context *ctx, uint8_t *work, size_t capacity, const uint8_t *input,
                          int length) {
    if ((size_t)length > capacity) return CODE_NO_ROOM;
    memmove(work, input, (size_t)length);
    int plain = strip_mki(ctx, work, length, ctx->rtcp_tag);
    if (plain < 0) return plain;
    if (plain - ctx->rtcp_overhead < 8) return CODE_TOO_SHORT;
    if ((work[0] >> 6) != 2) return CODE_BAD_HEADER;
    srtp_t session = session_for(ctx, KIND_RTCP_RX);
    if (session == NULL) return CODE_NO_SESSION;
    int out = plain;
    srtp_err_status_t status = srtp_unprotect_rtcp(session, work, &out);
    if (status != srtp_err_status_ok) return -(int)status;
    return out;
}

/* ---------- N-API ---------- */

static void finalize_context(napi_env env, void *data, void *hint) {
    srtp_context *ctx = (srtp_context *)data;
    for (int i = 0; i < 4; i++) {
        if (ctx->sessions[i] != NULL) srtp_dealloc(ctx->sessions[i]);
    }
    /* Keys are secrets: do not leave them in freed memory. */
    explicit_bzero(ctx, sizeof *ctx);
    free(ctx);
    __atomic_sub_fetch(&live_contexts, 1, __ATOMIC_RELAXED);
}

/*
 * The handle create() returns is this function bound to its context:
 * handle(op, input, work, expected) -> length >= 0, or a negative
 * code: -(srtp_err_status_t) from libsrtp, or one of CODE_*. Bound, the
 * context needs no lookup or check per packet (that cost more N-API calls
 * than the rest of the arguments together).
 * op: 0 protect RTP, 1 unprotect RTP, 2 protect RTCP, 3 unprotect RTCP.
 * expected: for RTP the ROC of the SSRC's highest index once this packet
 * counts, for protect RTCP the SRTCP index, as the caller computed them.
 */
static napi_value transform(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    void *bound = NULL;
    CALL(napi_get_cb_info(env, info, &argc, argv, NULL, &bound));
    srtp_context *ctx = (srtp_context *)bound;
    int32_t op;
    uint8_t *input, *work;
    size_t input_len, capacity;
    uint32_t expected = 0;
    if (argc < 4 || ctx == NULL || !get_int(env, argv[0], &op) ||
        !get_buffer(env, argv[1], &input, &input_len) ||
        !get_buffer(env, argv[2], &work, &capacity) ||
        napi_get_value_uint32(env, argv[3], &expected) != napi_ok) {
        return throw_type(env, "handle(op, input, work, expected)");
    }
    if (input_len > 0x7fffffff - 4096 || capacity > 0x7fffffff) return number(env, CODE_NO_ROOM);
    int length = (int)input_len;
    int result;
    switch (op) {
    case 0:
        result = protect_rtp(ctx, work, capacity, input, length, expected);
        break;
    case 1:
        result = unprotect_rtp(ctx, work, capacity, input, length, expected);
        break;
    case 2:
        result = protect_rtcp(ctx, work, capacity, input, length, expected);
        break;
    case 3:
        result = unprotect_rtcp(ctx, work, capacity, input, length);
        break;
    default:
        return throw_type(env, "handle: op must be 0 to 3");
    }
    return number(env, result);
}

/*
 * create(profile, keyAndSalt, rtpReceiveWindow, rtpSendWindow, mki | undefined)
 * profile: libsrtp's srtp_profile_t (1, 2, 7, 8). Throws on bad arguments:
 * they come from the wrapper, never from the network.
 */
static napi_value create(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 4) return throw_type(env, "create(profile, keyAndSalt, rxWindow, txWindow, mki?)");
    pthread_once(&init_once, init_libsrtp);
    if (init_status != srtp_err_status_ok) {
        napi_throw_error(env, "ERR_SRTP_NATIVE_INIT", "srtp_init failed");
        return NULL;
    }
    int32_t profile, rx_window, tx_window;
    uint8_t *key;
    size_t key_len;
    if (!get_int(env, argv[0], &profile) || !get_buffer(env, argv[1], &key, &key_len) ||
        !get_int(env, argv[2], &rx_window) || !get_int(env, argv[3], &tx_window)) {
        return throw_type(env, "create: profile, key, windows of the wrong type");
    }
    size_t expected;
    int rtp_tag, rtcp_tag, rtp_overhead, rtcp_overhead;
    switch (profile) {
    case srtp_profile_aes128_cm_sha1_80:
        expected = 30, rtp_tag = 10, rtcp_tag = 10, rtp_overhead = 10, rtcp_overhead = 14;
        break;
    case srtp_profile_aes128_cm_sha1_32:
        expected = 30, rtp_tag = 4, rtcp_tag = 10, rtp_overhead = 4, rtcp_overhead = 14;
        break;
    case srtp_profile_aead_aes_128_gcm:
        expected = 28, rtp_tag = 0, rtcp_tag = 0, rtp_overhead = 16, rtcp_overhead = 20;
        break;
    case srtp_profile_aead_aes_256_gcm:
        expected = 44, rtp_tag = 0, rtcp_tag = 0, rtp_overhead = 16, rtcp_overhead = 20;
        break;
    default:
        return throw_type(env, "create: unknown profile");
    }
    if (key_len != expected) return throw_type(env, "create: key and salt of the wrong length");
    if (rx_window < 64 || rx_window > 0x7fff || tx_window < 64 || tx_window > 0x7fff) {
        return throw_type(env, "create: replay windows must be 64 to 32767");
    }
    uint8_t *mki = NULL;
    size_t mki_len = 0;
    if (argc >= 5) {
        napi_valuetype type;
        CALL(napi_typeof(env, argv[4], &type));
        if (type != napi_undefined) {
            if (!get_buffer(env, argv[4], &mki, &mki_len) || mki_len < 1 || mki_len > MAX_MKI) {
                return throw_type(env, "create: mki must be a Buffer of 1 to 128 bytes");
            }
        }
    }
    srtp_context *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        napi_throw_error(env, "ERR_SRTP_NATIVE_ALLOC", "out of memory");
        return NULL;
    }
    __atomic_add_fetch(&live_contexts, 1, __ATOMIC_RELAXED);
    ctx->profile = (srtp_profile_t)profile;
    memcpy(ctx->key, key, key_len);
    ctx->rtp_tag = rtp_tag;
    ctx->rtcp_tag = rtcp_tag;
    ctx->rtp_overhead = rtp_overhead;
    ctx->rtcp_overhead = rtcp_overhead;
    ctx->windows[KIND_RTP_TX] = (unsigned long)tx_window;
    ctx->windows[KIND_RTP_RX] = (unsigned long)rx_window;
    /* SRTCP's replay database is libsrtp's fixed 128 bits whatever this says. */
    ctx->windows[KIND_RTCP_TX] = 128;
    ctx->windows[KIND_RTCP_RX] = 128;
    if (mki_len > 0) memcpy(ctx->mki, mki, mki_len);
    ctx->mki_len = (int)mki_len;
    napi_value handle;
    if (napi_create_function(env, "transform", NAPI_AUTO_LENGTH, transform, ctx, &handle) !=
            napi_ok ||
        napi_wrap(env, handle, ctx, finalize_context, NULL, NULL) != napi_ok) {
        finalize_context(env, ctx, NULL);
        napi_throw_error(env, "ERR_SRTP_NATIVE_ALLOC", "cannot create the handle");
        return NULL;
    }
    /* The function owns ctx from here: the garbage collector frees it. */
    if (napi_type_tag_object(env, handle, &CONTEXT_TAG) != napi_ok) {
        napi_throw_error(env, "ERR_SRTP_NATIVE_ALLOC", "cannot tag the handle");
        return NULL;
    }
    return handle;
}

/* removeStream(handle, kind, ssrc): forgets one SSRC's state of one kind (0..3). */
static napi_value remove_stream(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    srtp_context *ctx;
    int32_t kind;
    uint32_t ssrc;
    if (argc < 3 || !get_context(env, argv[0], &ctx) || !get_int(env, argv[1], &kind) ||
        kind < 0 || kind > 3 || napi_get_value_uint32(env, argv[2], &ssrc) != napi_ok) {
        return throw_type(env, "removeStream(handle, kind, ssrc)");
    }
    int removed = 0;
    if (ctx->sessions[kind] != NULL) {
        removed = srtp_remove_stream(ctx->sessions[kind], htonl(ssrc)) == srtp_err_status_ok;
    }
    napi_value result;
    CALL(napi_get_boolean(env, removed, &result));
    return result;
}

/* libsrtp's version string, for the engine's startup log. */
static napi_value version(napi_env env, napi_callback_info info) {
    napi_value result;
    CALL(napi_create_string_utf8(env, srtp_get_version_string(), NAPI_AUTO_LENGTH, &result));
    return result;
}

/* crypto(): "openssl" when libsrtp's AES and HMAC-SHA1 are OpenSSL's, else "libsrtp (why)". */
static napi_value crypto(napi_env env, napi_callback_info info) {
    pthread_once(&init_once, init_libsrtp);
    napi_value result;
    CALL(napi_create_string_utf8(env, crypto_in_use, NAPI_AUTO_LENGTH, &result));
    return result;
}

/* liveContexts(): contexts not yet finalized, in the whole process. */
static napi_value live(napi_env env, napi_callback_info info) {
    return number(env, (int32_t)__atomic_load_n(&live_contexts, __ATOMIC_RELAXED));
}

static napi_value init(napi_env env, napi_value exports) {
    napi_property_descriptor properties[] = {
        {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
        {"removeStream", NULL, remove_stream, NULL, NULL, NULL, napi_default, NULL},
        {"version", NULL, version, NULL, NULL, NULL, napi_default, NULL},
        {"crypto", NULL, crypto, NULL, NULL, NULL, napi_default, NULL},
        {"liveContexts", NULL, live, NULL, NULL, NULL, napi_default, NULL},
    };
    CALL(napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
