# SRTP through Debian's libsrtp2 (issue 20, point 2): one libsrtp session set
# per SrtpSession, protect/unprotect in place in a buffer the TypeScript
# wrapper owns; libsrtp's AES and HMAC-SHA1 from node's own OpenSSL
# (openssl_crypto.c: node exports libcrypto, its headers come with node's,
# so nothing more is linked). Plain C against N-API; needs libsrtp2-dev
# (scripts/install-runtime-packages.sh). Built by scripts/build-native.mjs.
{
  "targets": [
    {
      "target_name": "srtp",
      "sources": ["srtp_addon.c", "openssl_crypto.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lsrtp2", "-lpthread"]
    }
  ]
}
