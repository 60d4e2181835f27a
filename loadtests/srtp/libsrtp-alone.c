/*
 * libsrtp with the proxy's OpenSSL primitives (native/srtp/openssl_crypto.c),
 * called from C in a loop: what a packet costs without JavaScript, N-API or
 * the session bookkeeping of src/protocol/srtp. bench:srtp runs it beside the
 * engines as their floor, with the same packets (RTP, 12-byte header, SSRC
 * 0x5eed, payload 0xa5) and, for unprotect, the same ring of 4,096 packets
 * and a new receiving session each time round it.
 *
 *   libsrtp-alone PROFILE SIZE protect|unprotect SECONDS
 *   -> {"packets":N,"seconds":S,"nsPerPacket":X}
 *
 * PROFILE: AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32,
 * AEAD_AES_128_GCM, AEAD_AES_256_GCM. A baseline, not the product.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openssl_crypto.h"

#define RING 4096
#define ROOM 64 /* tag and trailer bytes protect may add */

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int set_profile(srtp_policy_t *policy, const char *profile, int *key_length) {
    if (strcmp(profile, "AES_CM_128_HMAC_SHA1_80") == 0) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->rtp);
        *key_length = 30;
    } else if (strcmp(profile, "AES_CM_128_HMAC_SHA1_32") == 0) {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy->rtp);
        *key_length = 30;
    } else if (strcmp(profile, "AEAD_AES_128_GCM") == 0) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy->rtp);
        *key_length = 28;
    } else if (strcmp(profile, "AEAD_AES_256_GCM") == 0) {
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy->rtp);
        *key_length = 44;
    } else {
        return 0;
    }
    policy->rtcp = policy->rtp;
    return 1;
}

static void rtp_packet(unsigned char *packet, int size, unsigned seq) {
    memset(packet, 0xa5, (size_t)size);
    packet[0] = 0x80;
    packet[1] = 96;
    packet[2] = (unsigned char)(seq >> 8);
    packet[3] = (unsigned char)seq;
    unsigned timestamp = seq * 160;
    for (int i = 0; i < 4; i++) packet[4 + i] = (unsigned char)(timestamp >> (24 - 8 * i));
    packet[8] = 0, packet[9] = 0, packet[10] = 0x5e, packet[11] = 0xed;
}

static srtp_t session(srtp_policy_t *policy, srtp_ssrc_type_t type) {
    policy->ssrc.type = type;
    policy->ssrc.value = 0;
    srtp_t made = NULL;
    if (srtp_create(&made, policy) != srtp_err_status_ok) {
        fprintf(stderr, "libsrtp-alone: srtp_create failed\n");
        exit(1);
    }
    return made;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: libsrtp-alone PROFILE SIZE protect|unprotect SECONDS\n");
        return 2;
    }
    const int size = atoi(argv[2]);
    const int protect = strcmp(argv[3], "protect") == 0;
    const double seconds = atof(argv[4]);
    if (size < 12 || size > 1500 || (!protect && strcmp(argv[3], "unprotect") != 0) ||
        !(seconds > 0)) {
        fprintf(stderr, "libsrtp-alone: bad arguments\n");
        return 2;
    }
    if (srtp_init() != srtp_err_status_ok || use_openssl_crypto() != srtp_err_status_ok) {
        fprintf(stderr, "libsrtp-alone: libsrtp with OpenSSL's primitives is not available\n");
        return 1;
    }
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    int key_length = 0;
    if (!set_profile(&policy, argv[1], &key_length)) {
        fprintf(stderr, "libsrtp-alone: unknown profile %s\n", argv[1]);
        return 2;
    }
    unsigned char key[64];
    for (int i = 0; i < key_length; i++) key[i] = (unsigned char)(i * 37 + 11);
    policy.key = key;
    policy.window_size = 1024;
    policy.allow_repeat_tx = 1; /* the sequence wraps within a run */

    static unsigned char ring[RING][1500 + ROOM];
    static int ring_lengths[RING];
    srtp_t sender = session(&policy, ssrc_any_outbound);
    srtp_t receiver = NULL;
    if (!protect) {
        for (int i = 0; i < RING; i++) {
            rtp_packet(ring[i], size, (unsigned)i);
            ring_lengths[i] = size;
            if (srtp_protect(sender, ring[i], &ring_lengths[i]) != srtp_err_status_ok) return 1;
        }
        receiver = session(&policy, ssrc_any_inbound);
    }
    unsigned char work[1500 + ROOM];
    long packets = 0;
    unsigned seq = 0;
    int at = 0;
    const double start = now_seconds();
    double elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < 256; i++) {
            int length;
            srtp_err_status_t status;
            if (protect) {
                rtp_packet(work, size, seq++ & 0xffff);
                length = size;
                status = srtp_protect(sender, work, &length);
            } else {
                if (at == RING) {
                    srtp_dealloc(receiver);
                    receiver = session(&policy, ssrc_any_inbound);
                    at = 0;
                }
                length = ring_lengths[at];
                memcpy(work, ring[at], (size_t)length);
                at++;
                status = srtp_unprotect(receiver, work, &length);
            }
            if (status != srtp_err_status_ok) {
                fprintf(stderr, "libsrtp-alone: %s failed: %d\n", argv[3], status);
                return 1;
            }
        }
        packets += 256;
        elapsed = now_seconds() - start;
    }
    printf("{\"packets\":%ld,\"seconds\":%.6f,\"nsPerPacket\":%.1f}\n", packets, elapsed,
           elapsed / (double)packets * 1e9);
    return 0;
}
