# The batched UDP I/O addon of issue 20 (recvmmsg/sendmmsg). Plain C against
# N-API only, so one build serves every Node of the same N-API version; built
# by scripts/build-native.mjs with the system's node headers (--nodedir).
{
  "targets": [
    {
      "target_name": "udp_batch",
      "sources": ["udp_batch.c"],
      "include_dirs": ["../common"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
