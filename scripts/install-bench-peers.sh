#!/usr/bin/env bash
# Installs the third-party peers that `npm run bench:http` runs against: the
# load generators (wrk for HTTP/1.1, h2load from nghttp2-client for HTTP/1.1
# rate-limited runs, HTTP/2 and gRPC), the proxy to compare with (haproxy 2.6)
# and the HTTP/1.1 and HTTP/2 backend (nginx). Debian packages only.
#
# Idempotent and non-interactive: when every package is already installed it
# only asks dpkg and exits (well under 2 s); otherwise it runs `apt-get update`
# once and installs just the missing packages, with sudo when not root.
# Daemons are never started here: Debian's haproxy and nginx packages try to
# start their services on install, so a policy-rc.d that refuses every start
# is put in place for the install only (when none exists); the benchmark runs
# both in the foreground, on 127.0.0.1, with configs of its own.
set -euo pipefail

packages=(
  wrk            # HTTP/1.1 closed-loop load (max requests/s)
  nghttp2-client # h2load: HTTP/2, gRPC and rate-limited HTTP/1.1 load
  haproxy        # the L7 proxy to compare with (2.6 on Debian 12)
  nginx          # backend for HTTP/1.1 and HTTP/2 (h2c) in the benchmark
  procps         # pgrep, to find the proxy under `streammesh up`
)

# shellcheck source=lib/apt-peers.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-peers.sh"

mapfile -t missing < <(missing_packages "${packages[@]}")
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
apt_privileges install-bench-peers "${missing[@]}"

echo "install-bench-peers: installing ${missing[*]}" >&2

# Keep apt from starting haproxy and nginx as services (exit 101 = "action
# forbidden"); only when no policy is in place already, and removed after.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=1
fi
remove_policy() {
  if [[ "$own_policy" -eq 1 ]]; then "${sudo[@]}" rm -f "$policy"; fi
}
trap remove_policy EXIT

apt_env=(env DEBIAN_FRONTEND=noninteractive)
"${sudo[@]}" "${apt_env[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
"${sudo[@]}" "${apt_env[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
  --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" >/dev/null

echo "install-bench-peers: done" >&2
