/*
 * What the addons (udp-batch, tcp-listen, process-group) throw, in one
 * place so they throw alike: an N-API call that failed, an argument out of
 * range, and a system call's errno as node's own socket errors carry it
 * (code "EADDRINUSE", message "bind EADDRINUSE: Address already in use ...").
 * Header-only: each addon is one translation unit built on its own.
 */
#ifndef STREAMMESH_NAPI_ERRORS_H
#define STREAMMESH_NAPI_ERRORS_H

#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

/*
 * Ends the calling function (returning NULL) when an N-API call fails, with
 * an exception pending. Uses the `env` in scope.
 */
#define CHECK(call)                                                                 \
  do {                                                                              \
    if ((call) != napi_ok) {                                                        \
      const napi_extended_error_info *info = NULL;                                  \
      napi_get_last_error_info(env, &info);                                         \
      bool pending = false;                                                         \
      napi_is_exception_pending(env, &pending);                                     \
      if (!pending)                                                                 \
        napi_throw_error(env, NULL,                                                 \
                         info && info->error_message ? info->error_message          \
                                                     : "N-API call failed");        \
      return NULL;                                                                  \
    }                                                                               \
  } while (0)

static inline napi_value range_error(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return NULL;
}

/*
 * Throws an Error whose code is errno's name (libuv's, as node names it);
 * `where` ("" for nothing) ends the message, such as the address in question.
 */
static inline napi_value throw_errno_at(napi_env env, const char *call, int err,
                                        const char *where) {
  /* uv_err_name() allocates (and never frees) the name of an errno it does not know. */
  char code[64];
  uv_err_name_r(uv_translate_sys_error(err), code, sizeof code);
  char message[256];
  snprintf(message, sizeof message, "%s %s: %s%s%s", call, code, strerror(err),
           where[0] == '\0' ? "" : " ", where);
  napi_throw_error(env, code, message);
  return NULL;
}

#endif
