/*
 * A libsrtp2 peer for the interop tests (test/protocol/srtp/libsrtp.test.ts):
 * an independent SRTP implementation to check ours against, byte for byte.
 *
 *   libsrtp-peer <profile number> <key||salt hex> <replay window>
 *
 * Profile numbers are libsrtp's srtp_profile_t (the DTLS-SRTP code points):
 * 1 AES_CM_128_HMAC_SHA1_80, 2 AES_CM_128_HMAC_SHA1_32, 7 AEAD_AES_128_GCM,
 * 8 AEAD_AES_256_GCM. Policies come from srtp_crypto_policy_set_from_profile_*,
 * so SRTCP under the _32 profile keeps libsrtp's 80-bit tag.
 *
 * stdin, one request per line:  p|u|pc|uc <packet hex>
 *   p  srtp_protect        u  srtp_unprotect
 *   pc srtp_protect_rtcp   uc srtp_unprotect_rtcp
 * stdout, one answer per line:  ok <packet hex>  |  err <srtp_err_status_t>
 *
 * Protection uses an ssrc_any_outbound session and unprotection a separate
 * ssrc_any_inbound one, the way a relay leg uses one key per direction.
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int from_hex(const char *hex, unsigned char *out, int capacity) {
    int n = 0;
    while (hex[0] != '\0' && hex[0] != '\n' && hex[1] != '\0') {
        int hi = hex_value(hex[0]), lo = hex_value(hex[1]);
        if (hi < 0 || lo < 0 || n >= capacity) return -1;
        out[n++] = (unsigned char)(hi << 4 | lo);
        hex += 2;
    }
    return n;
}

static srtp_t create_session(srtp_profile_t profile, unsigned char *key, unsigned long window,
                             srtp_ssrc_type_t type) {
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, profile) != srtp_err_status_ok ||
        srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, profile) != srtp_err_status_ok) {
        fprintf(stderr, "unsupported profile %d\n", (int)profile);
        exit(2);
    }
    policy.ssrc.type = type;
    policy.key = key;
    policy.window_size = window;
    /* As WebRTC does: a relay may resend an identical packet (NACK without RTX). */
    policy.allow_repeat_tx = 1;
    policy.next = NULL;
    srtp_t session;
    srtp_err_status_t status = srtp_create(&session, &policy);
    if (status != srtp_err_status_ok) {
        fprintf(stderr, "srtp_create failed: %d\n", (int)status);
        exit(2);
    }
    return session;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s <profile> <key||salt hex> <window>\n", argv[0]);
        return 2;
    }
    static unsigned char key[64];
    if (from_hex(argv[2], key, sizeof key) <= 0) {
        fprintf(stderr, "bad key\n");
        return 2;
    }
    if (srtp_init() != srtp_err_status_ok) return 2;
    srtp_profile_t profile = (srtp_profile_t)atoi(argv[1]);
    unsigned long window = strtoul(argv[3], NULL, 10);
    srtp_t sender = create_session(profile, key, window, ssrc_any_outbound);
    srtp_t receiver = create_session(profile, key, window, ssrc_any_inbound);

    static unsigned char packet[70000 + SRTP_MAX_TRAILER_LEN];
    char *line = NULL;
    size_t line_capacity = 0;
    while (getline(&line, &line_capacity, stdin) > 0) {
        char *space = strchr(line, ' ');
        if (space == NULL) return 2;
        *space = '\0';
        int length = from_hex(space + 1, packet, 70000);
        if (length < 0) return 2;
        srtp_err_status_t status;
        if (strcmp(line, "p") == 0) status = srtp_protect(sender, packet, &length);
        else if (strcmp(line, "u") == 0) status = srtp_unprotect(receiver, packet, &length);
        else if (strcmp(line, "pc") == 0) status = srtp_protect_rtcp(sender, packet, &length);
        else if (strcmp(line, "uc") == 0) status = srtp_unprotect_rtcp(receiver, packet, &length);
        else return 2;
        if (status != srtp_err_status_ok) {
            printf("err %d\n", (int)status);
        } else {
            fputs("ok ", stdout);
            for (int i = 0; i < length; i++) printf("%02x", packet[i]);
            fputc('\n', stdout);
        }
        fflush(stdout);
    }
    free(line);
    srtp_dealloc(sender);
    srtp_dealloc(receiver);
    srtp_shutdown();
    return 0;
}
