/*
 * AES (counter mode, GCM) and HMAC-SHA1 for libsrtp2 from OpenSSL (see
 * openssl_crypto.c for why).
 */
#ifndef STREAMMESH_SRTP_OPENSSL_CRYPTO_H
#define STREAMMESH_SRTP_OPENSSL_CRYPTO_H

#include <srtp2/srtp.h>

/*
 * Replaces libsrtp's AES-ICM-128/256, AES-GCM-128/256 and HMAC-SHA1 with the OpenSSL
 * ones in libsrtp's crypto kernel (process-wide). Call once, after
 * srtp_init() and before any session exists. libsrtp runs its own
 * known-answer tests on each before taking it; on any failure what was
 * replaced before it is put back, so the kernel is all OpenSSL or all
 * libsrtp's own. Returns srtp_err_status_ok, or why it kept its own.
 */
srtp_err_status_t use_openssl_crypto(void);

#endif
