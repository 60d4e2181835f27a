/*
 * Batched UDP I/O for the media path (issue 20, point 1): one recvmmsg per
 * readable event and one sendmmsg per batch, instead of node:dgram's one
 * recvmsg/sendmsg and one JavaScript callback per datagram, which take most
 * of the relay's CPU.
 *
 * Why it is shaped this way:
 * - Nothing is allocated per datagram or per batch. open() creates, once, a
 *   receive slab (batch * maxDatagram bytes), an Int32Array of lengths and a
 *   Uint8Array of sources (20 bytes each: family 4|6, 0, port big-endian, 16
 *   address bytes); each batch overwrites them and onBatch(count) is told how
 *   many slots are filled. The JavaScript side decodes lazily.
 * - One batch per uv_poll callback, so one batch per event-loop turn: other
 *   sockets and timers get their turn between batches.
 * - A datagram longer than maxDatagram (MSG_TRUNC) has length -1; the caller
 *   drops and counts it. A zero-length datagram has length 0.
 * - An exception thrown by onBatch is caught here, counted (callbackErrors)
 *   and cleared: a media socket must not take the process down, and the
 *   TypeScript wrapper already catches its handler's errors, so this is a
 *   backstop that a test can see, not a path in normal use.
 * - An error the kernel queued on the socket (ICMP port unreachable:
 *   ECONNREFUSED on a connected socket) comes out of recvmmsg; it is handed
 *   over as onBatch(0, code). The errno that ended a short send is kept for
 *   takeSendError(handle), read by the caller only when a send fell short.
 * - The handle's port and buffers are read-only, non-configurable
 *   properties, and the addon holds strong references to the four
 *   ArrayBuffers. JavaScript can still transfer one away (postMessage,
 *   structuredClone): before each recvmmsg the addon checks that none is
 *   detached; if one is, it writes nothing, calls onBatch(0,
 *   "ERR_BUFFER_DETACHED") and closes the socket.
 * - send() reads the destination first (its getters run JavaScript), then
 *   the buffer and arrays, and validates every offset/length against the
 *   buffer before sending anything, sending from validated copies:
 *   JavaScript input must never make the addon read out of bounds.
 *   A full socket buffer (EAGAIN/ENOBUFS) ends the send early; EBADF,
 *   EFAULT, ENOTSOCK (a bug of ours) throw; any other errno (an ICMP error
 *   from the peer: ECONNREFUSED, ENOPROTOOPT, ENONET, EPROTO...; a datagram
 *   too long for the protocol, EMSGSIZE: IPv4 carries 65,507 bytes at most;
 *   a route that refuses) costs that datagram only. The count the kernel
 *   took is returned; the caller counts the rest as dropped. The packet path
 *   never throws for that.
 * - Each env (main thread, worker) keeps a list of its open sockets and an
 *   async cleanup hook: a worker ending with sockets open has them closed
 *   before node unloads the addon (see env_state).
 * - close() stops the poll at once (no callback after it) and closes the fd
 *   in uv_close's callback. The state is freed once both the uv handle is
 *   closed and the JavaScript object is finalized, whichever comes last; a
 *   handle collected without close() is closed by the finalizer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errors.h"

#define MAX_BATCH 64
#define MAX_DATAGRAM 65535
#define SOURCE_BYTES 20
#define SEND_CHUNK 64
/* One SCM_TIMESTAMPNS per datagram. */
#define CONTROL_BYTES CMSG_SPACE(sizeof(struct timespec))

struct env_state;

typedef struct batch_socket {
  uv_poll_t poll;
  struct env_state *owner; /* the env whose loop polls it (see env_state) */
  struct batch_socket *prev, *next; /* in owner's list until uv_close's callback */
  napi_env env;
  napi_ref on_batch;
  napi_ref self; /* weak: lets the poll callback find the handle object */
  napi_async_context async_context;
  int fd;
  int family;
  int batch;
  int max_datagram;
  /*
   * Strong references to the four ArrayBuffers the batch is written into:
   * JavaScript may drop or transfer them, so the pointers below are used only
   * after napi_is_detached_arraybuffer said no, in the same turn.
   */
  napi_ref buffers[4];
  uint8_t *slab;
  int32_t *lengths;
  uint8_t *sources;
  double *ages;    /* ms each datagram of the batch waited since the kernel took it (0: unknown) */
  uint8_t *controls;
  struct mmsghdr *msgs;
  struct iovec *iovs;
  struct sockaddr_storage *addrs;
  int closing;     /* close() or the finalizer ran: no more callbacks */
  int uv_closed;   /* uv_close's callback ran: fd closed */
  int finalized;   /* the JavaScript object is gone */
  int polling;
  int send_error; /* errno that ended the last short send, 0 when none; read by takeSendError */
  double callback_errors;
} batch_socket;

/*
 * Per-env (main thread or worker) state, set as the addon's instance data.
 * A worker that ends with sockets open runs the finalizers at its env's
 * teardown, after which node unloads an addon only the worker loaded; a
 * uv_close started there would call back into unmapped code. So an async
 * cleanup hook (which node waits for before it unloads anything) closes
 * every socket still in the list and is removed when the last uv_close
 * callback ran.
 */
typedef struct env_state {
  napi_env env;
  batch_socket *sockets; /* uv handle not closed yet */
  napi_async_cleanup_hook_handle cleanup;
  int tearing_down;
} env_state;

/* ---------- errors ---------- */

static napi_value throw_errno(napi_env env, const char *call, int err) {
  return throw_errno_at(env, call, err, "");
}

/* ---------- state lifetime ---------- */

static void unlink_socket(batch_socket *s) {
  env_state *owner = s->owner;
  if (owner == NULL) return;
  if (s->prev != NULL) s->prev->next = s->next;
  else owner->sockets = s->next;
  if (s->next != NULL) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  s->owner = NULL;
  if (owner->tearing_down && owner->sockets == NULL && owner->cleanup != NULL) {
    napi_async_cleanup_hook_handle hook = owner->cleanup;
    owner->cleanup = NULL;
    napi_remove_async_cleanup_hook(hook); /* node may go on and unload us */
  }
}

static void free_state(batch_socket *s) {
  free(s->msgs);
  free(s->iovs);
  free(s->addrs);
  free(s->controls);
  free(s);
}

static void on_uv_close(uv_handle_t *handle) {
  batch_socket *s = (batch_socket *)handle->data;
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  s->uv_closed = 1;
  /*
   * Removing the cleanup hook (the last socket of an env going down) lets
   * node unload the addon, but only after this callback returned to the loop.
   */
  unlink_socket(s);
  if (s->finalized) free_state(s);
}

/*
 * Stops delivery at once and frees the port at once: the socket is replaced
 * under its fd number by /dev/null (dup3), so that a port closed now can be
 * bound again now (a config that moves a route to the port another one just
 * left). The fd number itself stays ours until uv_close's callback closes
 * it: libuv's poll handle still names it, and a number closed early could be
 * reused by another socket before libuv lets go of it.
 */
static void begin_close(napi_env env, batch_socket *s) {
  if (s->closing) return;
  s->closing = 1;
  if (s->polling) uv_poll_stop(&s->poll);
  s->polling = 0;
  if (s->fd >= 0) {
    int placeholder = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (placeholder >= 0) {
      dup3(placeholder, s->fd, O_CLOEXEC);
      close(placeholder);
    }
  }
  if (s->on_batch != NULL) {
    napi_delete_reference(env, s->on_batch);
    s->on_batch = NULL;
  }
  if (s->async_context != NULL) {
    napi_async_destroy(env, s->async_context);
    s->async_context = NULL;
  }
  for (int i = 0; i < 4; i++) {
    if (s->buffers[i] != NULL) napi_delete_reference(env, s->buffers[i]);
    s->buffers[i] = NULL;
  }
  uv_close((uv_handle_t *)&s->poll, on_uv_close);
}

/* The env goes down (a worker ends, however): close what is still open. */
static void on_env_cleanup(napi_async_cleanup_hook_handle hook, void *data) {
  env_state *state = (env_state *)data;
  state->tearing_down = 1;
  for (batch_socket *s = state->sockets; s != NULL; s = s->next) begin_close(state->env, s);
  if (state->sockets == NULL && state->cleanup != NULL) {
    state->cleanup = NULL;
    napi_remove_async_cleanup_hook(hook);
  }
}

static void free_env_state(napi_env env, void *data, void *hint) {
  free(data);
}

/*
 * Whether any of the receive buffers was detached (transferred) by
 * JavaScript; a buffer that cannot be read counts as detached.
 */
static int buffers_detached(napi_env env, batch_socket *s) {
  for (int i = 0; i < 4; i++) {
    napi_value buffer;
    bool detached = true;
    if (s->buffers[i] == NULL || napi_get_reference_value(env, s->buffers[i], &buffer) != napi_ok ||
        buffer == NULL || napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached)
      return 1;
  }
  return 0;
}

static void finalize(napi_env env, void *data, void *hint) {
  batch_socket *s = (batch_socket *)data;
  begin_close(env, s);
  if (s->self != NULL) {
    napi_delete_reference(env, s->self);
    s->self = NULL;
  }
  s->finalized = 1;
  if (s->uv_closed) free_state(s);
}

/* ---------- receive ---------- */

static void encode_source(batch_socket *s, int i) {
  uint8_t *out = s->sources + (size_t)i * SOURCE_BYTES;
  memset(out, 0, SOURCE_BYTES);
  const struct sockaddr_storage *addr = &s->addrs[i];
  if (addr->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
    out[0] = 4;
    memcpy(out + 2, &in->sin_port, 2);
    memcpy(out + 4, &in->sin_addr, 4);
  } else if (addr->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
    out[0] = 6;
    memcpy(out + 2, &in6->sin6_port, 2);
    memcpy(out + 4, &in6->sin6_addr, 16);
  }
}

/* onBatch(count[, code]) through make_callback; an exception it throws is counted. */
static void deliver(napi_env env, batch_socket *s, int count, const char *code) {
  napi_value callback, self, argv[2];
  size_t argc = 1;
  if (code != NULL) {
    argc = 2;
    if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &argv[1]) != napi_ok) argc = 1;
  }
  if (s->on_batch != NULL && napi_get_reference_value(env, s->on_batch, &callback) == napi_ok &&
      napi_get_reference_value(env, s->self, &self) == napi_ok && self != NULL &&
      napi_create_int32(env, count, &argv[0]) == napi_ok) {
    napi_value result;
    /* make_callback: process.nextTick and promise jobs run after the batch, as after an I/O event. */
    napi_make_callback(env, s->async_context, self, callback, argc, argv, &result);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      s->callback_errors += 1;
    }
  }
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  batch_socket *s = (batch_socket *)poll->data;
  if (s->closing) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  /*
   * A receive buffer transferred away by JavaScript (postMessage, structuredClone
   * with transfer) no longer belongs to us: writing into it would write into
   * memory owned elsewhere, or freed. The socket cannot go on: it says why
   * (onBatch(0, "ERR_BUFFER_DETACHED")) and closes.
   */
  if (buffers_detached(env, s)) {
    deliver(env, s, 0, "ERR_BUFFER_DETACHED");
    begin_close(env, s);
    napi_close_handle_scope(env, scope);
    return;
  }
  for (int i = 0; i < s->batch; i++) {
    s->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
    s->msgs[i].msg_hdr.msg_control = s->controls + (size_t)i * CONTROL_BYTES;
    s->msgs[i].msg_hdr.msg_controllen = CONTROL_BYTES;
    s->msgs[i].msg_hdr.msg_flags = 0;
    s->msgs[i].msg_len = 0;
  }
  int count = recvmmsg(s->fd, s->msgs, (unsigned)s->batch, MSG_DONTWAIT, NULL);
  int err = count < 0 ? errno : 0;
  /*
   * EAGAIN: nothing (yet). Any other error is one the kernel queued on the
   * socket (an ICMP port unreachable on a connected socket: ECONNREFUSED) and
   * cleared by this call: it is handed over as onBatch(0, code), so that the
   * owner can say why its peer does not answer. Datagrams still queued come
   * with the next readable event.
   */
  if (count == 0 || (count < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))) {
    napi_close_handle_scope(env, scope);
    return;
  }
  if (count < 0) count = 0;
  /*
   * A batch is read after its datagrams arrived, some long after (a busy
   * loop): each one's age since the kernel stamped it lets the caller put
   * its arrival time back, which jitter measurement needs.
   */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  for (int i = 0; i < count; i++) {
    s->lengths[i] = (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)s->msgs[i].msg_len;
    encode_source(s, i);
    s->ages[i] = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&s->msgs[i].msg_hdr); c != NULL;
         c = CMSG_NXTHDR(&s->msgs[i].msg_hdr, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
      struct timespec stamp;
      memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
      double age = (double)(now.tv_sec - stamp.tv_sec) * 1e3 + (double)(now.tv_nsec - stamp.tv_nsec) / 1e6;
      /* A clock step between the stamp and now: no age rather than a wrong one. */
      s->ages[i] = age > 0 && age < 10000 ? age : 0;
    }
  }
  deliver(env, s, count, err != 0 ? uv_err_name(uv_translate_sys_error(err)) : NULL);
  napi_close_handle_scope(env, scope);
}

/* ---------- argument helpers ---------- */

static int parse_address(napi_env env, napi_value value, int family, int port,
                         struct sockaddr_storage *out, socklen_t *len) {
  char text[64];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, value, text, sizeof text, &n) != napi_ok) return -1;
  memset(out, 0, sizeof *out);
  if (family == 4) {
    struct sockaddr_in *in = (struct sockaddr_in *)out;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, text, &in->sin_addr) != 1) return -1;
    *len = sizeof *in;
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) != 1) return -1;
    *len = sizeof *in6;
  }
  return 0;
}

static int get_int_property(napi_env env, napi_value object, const char *name, int fallback,
                            int *out) {
  bool has = false;
  *out = fallback;
  if (napi_has_named_property(env, object, name, &has) != napi_ok) return -1;
  if (!has) return 0;
  napi_value value;
  napi_valuetype type;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return -1;
  if (napi_typeof(env, value, &type) != napi_ok) return -1;
  if (type == napi_undefined) return 0;
  if (type != napi_number) return -1;
  return napi_get_value_int32(env, value, out) == napi_ok ? 0 : -1;
}

/*
 * Marks the handles this addon wraps: an object another addon wrapped is
 * refused as a handle instead of being read as a socket.
 */
static const napi_type_tag HANDLE_TAG = {0x2c91d7e04f6b4a38ULL, 0x8e5f13a7c0b2d946ULL};

static batch_socket *unwrap(napi_env env, napi_value handle) {
  batch_socket *s = NULL;
  bool tagged = false;
  if (napi_check_object_type_tag(env, handle, &HANDLE_TAG, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, handle, (void **)&s) != napi_ok || s == NULL) {
    napi_throw_type_error(env, NULL, "not a udp_batch handle");
    return NULL;
  }
  return s;
}

static int port_valid(int family, int port) {
  return (family == 4 || family == 6) && port >= 0 && port <= 65535;
}

/* ---------- open(family, address, port, options, onBatch) ---------- */

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return range_error(env, "open(family, address, port, options, onBatch)");
  int family, port, recv_bytes, send_bytes, batch, max_datagram;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  if (!port_valid(family, port)) return range_error(env, "open: family must be 4 or 6, port 0-65535");
  if (get_int_property(env, argv[3], "recvBufferBytes", 0, &recv_bytes) ||
      get_int_property(env, argv[3], "sendBufferBytes", 0, &send_bytes) ||
      get_int_property(env, argv[3], "batch", 32, &batch) ||
      get_int_property(env, argv[3], "maxDatagram", 2048, &max_datagram))
    return range_error(env, "open: options must be integers");
  if (batch < 1 || batch > MAX_BATCH) return range_error(env, "open: batch must be 1-64");
  if (max_datagram < 1 || max_datagram > MAX_DATAGRAM)
    return range_error(env, "open: maxDatagram must be 1-65535");
  napi_valuetype callback_type;
  CHECK(napi_typeof(env, argv[4], &callback_type));
  if (callback_type != napi_function) {
    napi_throw_type_error(env, NULL, "open: onBatch must be a function");
    return NULL;
  }

  struct sockaddr_storage addr;
  socklen_t addr_len = 0;
  if (parse_address(env, argv[1], family, port, &addr, &addr_len) != 0) {
    napi_throw_type_error(env, "EINVAL", "open: address is not an IP address of that family");
    return NULL;
  }
  env_state *owner = NULL;
  if (napi_get_instance_data(env, (void **)&owner) != napi_ok || owner == NULL) {
    napi_throw_error(env, NULL, "open: the addon was not initialised in this env");
    return NULL;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (recv_bytes > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &recv_bytes, sizeof recv_bytes) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt SO_RCVBUF", err);
  }
  if (send_bytes > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_bytes, sizeof send_bytes) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt SO_SNDBUF", err);
  }
  int on = 1;
  /* Kernel receive timestamps (see on_readable); without them ages stay 0. */
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bound_len);
  int bound_port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                    : ((struct sockaddr_in6 *)&bound)->sin6_port);

  batch_socket *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->batch = batch;
  s->max_datagram = max_datagram;
  s->msgs = calloc((size_t)batch, sizeof *s->msgs);
  s->iovs = calloc((size_t)batch, sizeof *s->iovs);
  s->addrs = calloc((size_t)batch, sizeof *s->addrs);
  s->controls = calloc((size_t)batch, CONTROL_BYTES);
  if (s->msgs == NULL || s->iovs == NULL || s->addrs == NULL || s->controls == NULL) {
    close(fd);
    free_state(s);
    return throw_errno(env, "calloc", ENOMEM);
  }

  /* Slab and per-batch arrays: created once, owned by the handle object. */
  napi_value handle, slab, lengths_buffer, lengths, sources_buffer, sources, port_value, ages_buffer, ages;
  void *slab_data, *lengths_data, *sources_data, *ages_data;
  if (napi_create_object(env, &handle) != napi_ok ||
      napi_create_arraybuffer(env, (size_t)batch * (size_t)max_datagram, &slab_data, &slab) != napi_ok ||
      napi_create_arraybuffer(env, (size_t)batch * 4, &lengths_data, &lengths_buffer) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, (size_t)batch, lengths_buffer, 0, &lengths) != napi_ok ||
      napi_create_arraybuffer(env, (size_t)batch * SOURCE_BYTES, &sources_data, &sources_buffer) != napi_ok ||
      napi_create_typedarray(env, napi_uint8_array, (size_t)batch * SOURCE_BYTES, sources_buffer, 0,
                             &sources) != napi_ok ||
      napi_create_int32(env, bound_port, &port_value) != napi_ok ||
      napi_create_arraybuffer(env, (size_t)batch * 8, &ages_data, &ages_buffer) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, (size_t)batch, ages_buffer, 0, &ages) != napi_ok) {
    close(fd);
    free_state(s);
    return NULL;
  }
  /* Read-only and non-configurable: the handle's buffers are the ones we write into. */
  napi_property_descriptor fields[] = {
      {"port", NULL, NULL, NULL, NULL, port_value, napi_enumerable, NULL},
      {"slab", NULL, NULL, NULL, NULL, slab, napi_enumerable, NULL},
      {"lengths", NULL, NULL, NULL, NULL, lengths, napi_enumerable, NULL},
      {"sources", NULL, NULL, NULL, NULL, sources, napi_enumerable, NULL},
      {"ages", NULL, NULL, NULL, NULL, ages, napi_enumerable, NULL},
  };
  napi_value held[4] = {slab, lengths_buffer, sources_buffer, ages_buffer};
  int referenced = 0;
  if (napi_define_properties(env, handle, sizeof fields / sizeof fields[0], fields) == napi_ok) {
    while (referenced < 4 && napi_create_reference(env, held[referenced], 1, &s->buffers[referenced]) == napi_ok)
      referenced++;
  }
  if (referenced < 4) {
    for (int i = 0; i < referenced; i++) napi_delete_reference(env, s->buffers[i]);
    close(fd);
    free_state(s);
    return NULL;
  }
  s->slab = slab_data;
  s->lengths = lengths_data;
  s->sources = sources_data;
  s->ages = ages_data;
  for (int i = 0; i < batch; i++) {
    s->iovs[i].iov_base = s->slab + (size_t)i * (size_t)max_datagram;
    s->iovs[i].iov_len = (size_t)max_datagram;
    s->msgs[i].msg_hdr.msg_iov = &s->iovs[i];
    s->msgs[i].msg_hdr.msg_iovlen = 1;
    s->msgs[i].msg_hdr.msg_name = &s->addrs[i];
  }

  uv_loop_t *loop;
  napi_value resource_name;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    free_state(s);
    napi_throw_error(env, NULL, "open: uv_poll_init failed");
    return NULL;
  }
  s->poll.data = s;
  /* In the env's list until uv_close's callback (see on_env_cleanup). */
  s->owner = owner;
  s->next = owner->sockets;
  if (owner->sockets != NULL) owner->sockets->prev = s;
  owner->sockets = s;
  /* From here the state is freed through begin_close/finalize only. */
  if (napi_wrap(env, handle, s, finalize, NULL, NULL) != napi_ok) {
    s->finalized = 1;
    begin_close(env, s);
    napi_throw_error(env, NULL, "open: napi_wrap failed");
    return NULL;
  }
  if (napi_type_tag_object(env, handle, &HANDLE_TAG) != napi_ok) {
    begin_close(env, s);
    napi_throw_error(env, NULL, "open: napi_type_tag_object failed");
    return NULL;
  }
  CHECK(napi_create_reference(env, handle, 0, &s->self));
  CHECK(napi_create_reference(env, argv[4], 1, &s->on_batch));
  CHECK(napi_create_string_utf8(env, "streammesh:udp-batch", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(napi_async_init(env, handle, resource_name, &s->async_context));
  if (uv_poll_start(&s->poll, UV_READABLE, on_readable) != 0) {
    begin_close(env, s);
    napi_throw_error(env, NULL, "open: uv_poll_start failed");
    return NULL;
  }
  s->polling = 1;
  return handle;
}

/* ---------- connect(handle, address, port) ---------- */

static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) return range_error(env, "connect(handle, address, port)");
  batch_socket *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closing) return throw_errno(env, "connect", EBADF);
  int port;
  CHECK(napi_get_value_int32(env, argv[2], &port));
  if (port < 1 || port > 65535) return range_error(env, "connect: port must be 1-65535");
  struct sockaddr_storage addr;
  socklen_t len;
  if (parse_address(env, argv[1], s->family, port, &addr, &len) != 0) {
    napi_throw_type_error(env, "EINVAL", "connect: address is not an IP address of the socket's family");
    return NULL;
  }
  if (connect(s->fd, (struct sockaddr *)&addr, len) != 0) return throw_errno(env, "connect", errno);
  return NULL;
}

/* ---------- send(handle, buffer, offsets, lengths, count, destination?) ---------- */

static int typed_int32(napi_env env, napi_value value, int32_t **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return -1;
  napi_typedarray_type type;
  napi_value arraybuffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, (void **)data, &arraybuffer, &offset) != napi_ok)
    return -1;
  return type == napi_int32_array ? 0 : -1;
}

static int bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is = false;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count, offset;
    napi_value arraybuffer;
    if (napi_get_typedarray_info(env, value, &type, &count, (void **)data, &arraybuffer, &offset) != napi_ok ||
        type != napi_uint8_array)
      return -1;
    *length = count;
    return 0;
  }
  if (napi_is_arraybuffer(env, value, &is) == napi_ok && is)
    return napi_get_arraybuffer_info(env, value, (void **)data, length) == napi_ok ? 0 : -1;
  return -1;
}

/* Validated copies of offsets/lengths up to this count live on the stack. */
#define SEND_COPY_ON_STACK 256

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return range_error(env, "send(handle, buffer, offsets, lengths, count, destination?)");
  batch_socket *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closing) return throw_errno(env, "send", EBADF);

  /*
   * The destination first: reading its properties runs JavaScript (getters,
   * proxies), which could shrink, detach or rewrite the buffer and the
   * offsets/lengths. Everything read after it, no JavaScript runs until the
   * datagrams are sent.
   */
  struct sockaddr_storage destination;
  socklen_t destination_length = 0;
  napi_valuetype destination_type = napi_undefined;
  if (argc >= 6) CHECK(napi_typeof(env, argv[5], &destination_type));
  if (destination_type == napi_object) {
    int family, port;
    napi_value address;
    if (get_int_property(env, argv[5], "family", 0, &family) ||
        get_int_property(env, argv[5], "port", 0, &port) || family != s->family || port < 1 ||
        port > 65535 || napi_get_named_property(env, argv[5], "address", &address) != napi_ok ||
        parse_address(env, address, family, port, &destination, &destination_length) != 0) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) return NULL; /* a getter threw: that exception */
      return range_error(env, "send: destination must be { family (the socket's), address, port 1-65535 }");
    }
    /* The getters may have closed the socket. */
    if (s->closing) return throw_errno(env, "send", EBADF);
  } else if (destination_type != napi_undefined && destination_type != napi_null) {
    napi_throw_type_error(env, NULL, "send: destination must be an object or undefined");
    return NULL;
  }

  uint8_t *buffer = NULL;
  size_t buffer_length = 0;
  int32_t *offsets_in = NULL, *lengths_in = NULL;
  size_t offsets_length = 0, lengths_length = 0;
  if (bytes_of(env, argv[1], &buffer, &buffer_length) != 0) {
    napi_throw_type_error(env, NULL, "send: buffer must be a Uint8Array or ArrayBuffer");
    return NULL;
  }
  if (typed_int32(env, argv[2], &offsets_in, &offsets_length) != 0 ||
      typed_int32(env, argv[3], &lengths_in, &lengths_length) != 0) {
    napi_throw_type_error(env, NULL, "send: offsets and lengths must be Int32Arrays");
    return NULL;
  }
  double count_number;
  CHECK(napi_get_value_double(env, argv[4], &count_number));
  if (!(count_number >= 0) || count_number != (double)(int64_t)count_number ||
      count_number > (double)offsets_length || count_number > (double)lengths_length)
    return range_error(env, "send: count must be an integer within both offsets and lengths");
  size_t count = (size_t)count_number;
  /*
   * Validated values are copied and only the copies are used: offsets and
   * lengths may share memory with each other or with the buffer, so nothing
   * read twice from them can be trusted.
   */
  int32_t stack_copy[2 * SEND_COPY_ON_STACK];
  int32_t *copy = stack_copy;
  if (count > SEND_COPY_ON_STACK) {
    copy = malloc(count * 2 * sizeof *copy);
    if (copy == NULL) return throw_errno(env, "send", ENOMEM);
  }
  int32_t *offsets = copy, *lengths = copy + count;
  for (size_t i = 0; i < count; i++) {
    int64_t offset = offsets_in[i], length = lengths_in[i];
    if (offset < 0 || length < 0 || length > MAX_DATAGRAM || (uint64_t)(offset + length) > buffer_length) {
      if (copy != stack_copy) free(copy);
      return range_error(env, "send: an offset/length lies outside the buffer");
    }
    offsets[i] = (int32_t)offset;
    lengths[i] = (int32_t)length;
  }

  /*
   * `next` is the first datagram not tried yet; `sent` counts those the
   * kernel took. sendmmsg stops at the first datagram it refuses and loses
   * that error when it sent some before it, so the rest is tried again: the
   * refused one then fails first and its errno is known. A full buffer
   * (EAGAIN, ENOBUFS) ends the send (the rest would fail alike); any other
   * refusal costs that one datagram (a datagram too long, an ICMP error
   * queued on the socket, which the refusal clears) and sending goes on, as
   * node:dgram's independent sends do. Every turn consumes at least one
   * datagram, so the loop ends.
   */
  struct mmsghdr msgs[SEND_CHUNK];
  struct iovec iovs[SEND_CHUNK];
  size_t sent = 0, next = 0;
  int interrupted = 0;
  s->send_error = 0;
  while (next < count) {
    size_t chunk = count - next < SEND_CHUNK ? count - next : SEND_CHUNK;
    memset(msgs, 0, sizeof(struct mmsghdr) * chunk);
    for (size_t i = 0; i < chunk; i++) {
      iovs[i].iov_base = buffer + offsets[next + i];
      iovs[i].iov_len = (size_t)lengths[next + i];
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      if (destination_length > 0) {
        msgs[i].msg_hdr.msg_name = &destination;
        msgs[i].msg_hdr.msg_namelen = destination_length;
      }
    }
    int n = sendmmsg(s->fd, msgs, (unsigned)chunk, MSG_DONTWAIT);
    if (n < 0) {
      int err = errno;
      if (err == EINTR && interrupted++ < 8) continue;
      s->send_error = err;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR) break;
      /*
       * A bug of ours, not a refusal of this datagram: no point going on.
       * Every other errno (an ICMP error queued on the socket: ECONNREFUSED,
       * ENOPROTOOPT, ENONET, EHOSTDOWN, EPROTO...; EMSGSIZE; a route that
       * refuses: EACCES, EPERM, and EINVAL, which a blackhole route gives)
       * costs this datagram only, as with node:dgram's independent sends.
       */
      if (err == EBADF || err == EFAULT || err == ENOTSOCK) {
        if (copy != stack_copy) free(copy);
        return throw_errno(env, "sendmmsg", err);
      }
      next += 1; /* that one datagram is lost; the others go on */
      continue;
    }
    if (n == 0) break; /* not seen: sendmmsg takes one at least or fails */
    sent += (size_t)n;
    next += (size_t)n;
  }
  if (copy != stack_copy) free(copy);
  napi_value result;
  CHECK(napi_create_double(env, (double)sent, &result));
  return result;
}

/* ---------- takeSendError(handle): why the last send stopped short, once ---------- */

static napi_value js_take_send_error(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) return range_error(env, "takeSendError(handle)");
  batch_socket *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->send_error == 0) {
    CHECK(napi_get_undefined(env, &result));
    return result;
  }
  CHECK(napi_create_string_utf8(env, uv_err_name(uv_translate_sys_error(s->send_error)),
                                NAPI_AUTO_LENGTH, &result));
  s->send_error = 0;
  return result;
}

/* ---------- close(handle), callbackErrors(handle) ---------- */

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) return range_error(env, "close(handle)");
  batch_socket *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  begin_close(env, s);
  return NULL;
}

static napi_value js_callback_errors(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) return range_error(env, "callbackErrors(handle)");
  batch_socket *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  CHECK(napi_create_double(env, s->callback_errors, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  /* Once per env (init may run again when the addon is loaded again in it). */
  env_state *state = NULL;
  if (napi_get_instance_data(env, (void **)&state) != napi_ok || state == NULL) {
    state = calloc(1, sizeof *state);
    if (state == NULL) {
      napi_throw_error(env, NULL, "udp_batch: out of memory");
      return NULL;
    }
    state->env = env;
    if (napi_set_instance_data(env, state, free_env_state, NULL) != napi_ok) {
      free(state);
      napi_throw_error(env, NULL, "udp_batch: napi_set_instance_data failed");
      return NULL;
    }
    CHECK(napi_add_async_cleanup_hook(env, on_env_cleanup, state, &state->cleanup));
  }
  napi_property_descriptor properties[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"callbackErrors", NULL, js_callback_errors, NULL, NULL, NULL, napi_enumerable, NULL},
      {"takeSendError", NULL, js_take_send_error, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
