#!/usr/bin/env bash
# A test camera for trying the RTSP proxy without a real one: GStreamer's RTSP
# server serving a live H.264 test pattern (a moving ball, 320x240, 25 fps)
# on 127.0.0.1, over UDP and TCP-interleaved. Its default URL,
# rtsp://127.0.0.1:8555/test, is the source of cam1 in
# examples/rtsp-cameras.yaml. Runs in the foreground until Ctrl-C.
#
# It is the same camera the RTSP tests use (test/helpers/peers/rtsp-camera.py);
# this wrapper gives it usage text and readable output. Its packages come with
# scripts/install-test-peers.sh (part of `npm run test:all`).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/test-camera.sh [--port PORT] [--path PATH] [--user NAME --password SECRET [--digest]]

Serves a live H.264 test pattern at rtsp://127.0.0.1:PORT/PATH until Ctrl-C.

  --port PORT          TCP port of the RTSP server (default 8555)
  --path PATH          the stream's path (default test)
  --user NAME          require this user (Basic auth; both --user and --password)
  --password SECRET    the user's password
  --digest             ask for Digest auth instead of Basic
  -h, --help           this text

With credentials, put them in the camera's URL in the config:
  source: rtsp://NAME:SECRET@127.0.0.1:8555/test
EOF
}

fail() {
  echo "test-camera: $1" >&2
  exit 2
}

port=8555
path=test
auth=()
user=''
password=''
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) port="${2-}"; shift 2 || fail "--port needs a value" ;;
    --path) path="${2-}"; shift 2 || fail "--path needs a value" ;;
    --user) user="${2-}"; shift 2 || fail "--user needs a value" ;;
    --password) password="${2-}"; shift 2 || fail "--password needs a value" ;;
    --digest) auth+=(--digest); shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; echo >&2; fail "unknown argument: $1" ;;
  esac
done

[[ "$port" =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)) || fail "--port must be 1-65535, not '$port'"
[[ "$path" =~ ^[A-Za-z0-9._~/-]+$ ]] || fail "--path may hold letters, digits and . _ ~ / - only, not '$path'"
if [[ -n "$user" || -n "$password" ]]; then
  [[ -n "$user" && -n "$password" ]] || fail "--user and --password go together"
  auth=(--user "$user" --password "$password" "${auth[@]}")
elif [[ ${#auth[@]} -gt 0 ]]; then
  fail "--digest needs --user and --password"
fi

# Debian's python3 has the GStreamer bindings; one earlier on PATH (pyenv) may not.
python=/usr/bin/python3
if [[ ! -x "$python" ]] || ! "$python" -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null; then
  fail "GStreamer's RTSP server for Python is missing: run scripts/install-test-peers.sh"
fi

camera="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/test/helpers/peers/rtsp-camera.py"
credentials=''
[[ -n "$user" ]] && credentials="$user:$password@"
url="rtsp://${credentials}127.0.0.1:$port/${path#/}"

# The camera runs as a child so that its lines can be made readable; Ctrl-C
# (or SIGTERM) is passed on to it, and it stops its server cleanly.
coproc CAMERA { exec "$python" "$camera" "$port" "$path" "${auth[@]}" 2>&1; }
camera_pid=$CAMERA_PID
trap 'kill -INT "$camera_pid" 2>/dev/null || true' INT TERM
while IFS= read -r line <&"${CAMERA[0]}"; do
  case "$line" in
    ready) echo "test camera  $url  (Ctrl-C stops it)" ;;
    session\ *) echo "test camera  RTSP ${line}" ;;
    *) echo "$line" ;;
  esac
done
status=0
wait "$camera_pid" || status=$?
# SIGINT/SIGTERM are how it is meant to end: not a failure.
if ((status == 130 || status == 143)); then status=0; fi
if ((status == 0)); then echo "test camera  stopped"; fi
exit "$status"
