/*
 * A process group of its own for the calling process, in the session it is
 * in (src/shared/process-group.ts says why `up` wants that):
 *
 *   ownGroup() -> the new process group id (the process's own pid)
 *
 * setpgid(0, 0) fails with EPERM for a session leader; the errno is thrown
 * as node names it. No state: loading it twice is harmless.
 */
#include <errno.h>
#include <node_api.h>
#include <unistd.h>

#include "napi_errors.h"

static napi_value js_own_group(napi_env env, napi_callback_info info) {
  if (setpgid(0, 0) != 0) return throw_errno_at(env, "setpgid", errno, "");
  napi_value group;
  CHECK(napi_create_int32(env, (int32_t)getpgrp(), &group));
  return group;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  CHECK(napi_create_function(env, "ownGroup", NAPI_AUTO_LENGTH, js_own_group, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "ownGroup", fn));
  return exports;
}
