/*
 * TCP listening sockets with SO_REUSEPORT for the L7 threads (issue 20,
 * point 3). Node 20's net.Server has no reusePort option and a server
 * handle cannot be shared between worker threads, so every L7 thread opens
 * its own socket of a listener's port here and hands the fd to
 * server.listen({ fd }); the kernel spreads new connections over the
 * sockets of the port (its SO_REUSEPORT group).
 *
 *   listen(host, port, backlog, exclusive) -> { fd, port }
 *   close(fd)
 *
 * host is a numeric IPv4 or IPv6 address (the caller resolves names, as
 * node's listen() does); port 0 lets the kernel pick one, which is returned.
 *
 * exclusive: the first socket of a listener. It binds WITHOUT SO_REUSEPORT,
 * so the bind fails (EADDRINUSE) when anything at all already holds the
 * address, another streammesh proxy of the same user included (a socket
 * with SO_REUSEPORT under the same uid would otherwise join the port
 * silently and take a share of its connections); only then is SO_REUSEPORT
 * set, before listen(), so that the other threads' sockets can join. The
 * check and the bind are one system call: nothing can slip in between.
 * Port 0 is picked the same way, among ports no socket holds.
 * Not exclusive: a later thread's socket, SO_REUSEPORT before bind, joining
 * the port the exclusive one holds.
 *
 * The fd is CLOEXEC and non-blocking. Once node listens on it, node owns it
 * (server.close() closes it); close() here is for an fd node never took.
 * No process-global mutable state: the addon loads in every worker thread.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "napi_errors.h"

#define MAX_HOST 128

/* Throws errno as node's socket errors carry it, the address at the end. */
static napi_value throw_errno(napi_env env, const char *call, const char *host, int port,
                              int err) {
  char where[MAX_HOST + 8];
  snprintf(where, sizeof where, "%s:%d", host, port);
  return throw_errno_at(env, call, err, where);
}

static int set_flag(int fd, int option) {
  int one = 1;
  return setsockopt(fd, SOL_SOCKET, option, &one, sizeof one);
}

/* listen(host, port, backlog, exclusive) */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return range_error(env, "listen(host, port, backlog, exclusive)");

  char host[MAX_HOST];
  size_t host_length = 0;
  napi_valuetype type;
  CHECK(napi_typeof(env, argv[0], &type));
  if (type != napi_string) return range_error(env, "listen: host must be a string");
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_length));
  if (host_length == 0 || host_length >= sizeof host - 1)
    return range_error(env, "listen: host must be 1-126 characters");

  int32_t port = -1, backlog = 0;
  bool exclusive = false;
  if (napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 0 || port > 65535)
    return range_error(env, "listen: port must be an integer 0-65535");
  if (napi_get_value_int32(env, argv[2], &backlog) != napi_ok || backlog < 1 || backlog > 65535)
    return range_error(env, "listen: backlog must be an integer 1-65535");
  if (napi_get_value_bool(env, argv[3], &exclusive) != napi_ok)
    return range_error(env, "listen: exclusive must be a boolean");

  /* Numeric only: a name here would block the event loop on a resolver. */
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints, *found = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  int resolved = getaddrinfo(host, service, &hints, &found);
  if (resolved != 0 || found == NULL) {
    if (found != NULL) freeaddrinfo(found);
    char message[256];
    snprintf(message, sizeof message, "listen: %s is not a numeric IP address", host);
    napi_throw_error(env, "EINVAL", message);
    return NULL;
  }

  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
  if (fd < 0) {
    int err = errno;
    freeaddrinfo(found);
    return throw_errno(env, "socket", host, port, err);
  }
  const char *failed = NULL;
  /* As libuv does for every TCP server: a port in TIME_WAIT can be bound again. */
  if (set_flag(fd, SO_REUSEADDR) != 0) failed = "setsockopt(SO_REUSEADDR)";
  else if (!exclusive && set_flag(fd, SO_REUSEPORT) != 0) failed = "setsockopt(SO_REUSEPORT)";
  else if (bind(fd, found->ai_addr, found->ai_addrlen) != 0) failed = "bind";
  else if (exclusive && set_flag(fd, SO_REUSEPORT) != 0) failed = "setsockopt(SO_REUSEPORT)";
  else if (listen(fd, backlog) != 0) failed = "listen";
  freeaddrinfo(found);

  struct sockaddr_storage bound;
  socklen_t bound_length = sizeof bound;
  if (failed == NULL && getsockname(fd, (struct sockaddr *)&bound, &bound_length) != 0)
    failed = "getsockname";
  if (failed != NULL) {
    int err = errno;
    close(fd);
    return throw_errno(env, failed, host, port, err);
  }
  int bound_port = bound.ss_family == AF_INET6
                       ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                       : ntohs(((struct sockaddr_in *)&bound)->sin_port);

  napi_value result, fd_value, port_value;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_int32(env, fd, &fd_value) != napi_ok ||
      napi_create_int32(env, bound_port, &port_value) != napi_ok ||
      napi_set_named_property(env, result, "fd", fd_value) != napi_ok ||
      napi_set_named_property(env, result, "port", port_value) != napi_ok) {
    /* Nobody will ever learn this fd: closed here rather than leaked. */
    close(fd);
    CHECK(napi_generic_failure);
  }
  return result;
}

/* close(fd): an fd from listen() that node never took. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0)
    return range_error(env, "close(fd): fd must be a non-negative integer");
  close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
