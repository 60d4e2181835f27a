# setpgid(0, 0) for a role started by `streammesh up`: node can put a child
# in a new session (fork's detached, setsid) but not in a new process group of
# the same session, which is what `up` wants (src/shared/process-group.ts).
# Plain C against N-API only; built by scripts/build-native.mjs like the others.
{
  "targets": [
    {
      "target_name": "process_group",
      "sources": ["process_group.c"],
      "include_dirs": ["../common"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
