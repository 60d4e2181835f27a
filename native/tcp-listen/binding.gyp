# TCP listening sockets shared by the L7 threads through SO_REUSEPORT
# (issue 20, point 3): node:net offers no reusePort on Node 20 and threads
# cannot share a server handle, so each thread listens on its own socket of
# the port (server.listen({ fd })) and the kernel spreads connections. Plain
# C against N-API only; built by scripts/build-native.mjs like udp-batch.
{
  "targets": [
    {
      "target_name": "tcp_listen",
      "sources": ["tcp_listen.c"],
      "include_dirs": ["../common"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
