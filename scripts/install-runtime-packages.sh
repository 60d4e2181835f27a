#!/usr/bin/env bash
# Installs the Debian packages the running mesh is better with, as part of
# `npm install` (postinstall), before build-native.mjs builds the addons:
# - jemalloc, which `streammesh up` preloads into the rtp-proxy. With glibc's
#   malloc the L7 thread's freed memory stayed fragmented in its arena after
#   an HTTP/2 flood (RSS 1.8x the baseline a minute later); with jemalloc it
#   returned to within 2%.
# - libsrtp2 (Debian's 2.5, built against NSS, so with AES-GCM): the SRTP
#   engine `libsrtp` (proxy.srtpEngine) through native/srtp, which links it.
#
# Never fails the install: without root or sudo it says what to install, the
# proxy runs on glibc's malloc and SRTP on node:crypto (srtpEngine auto).
# Idempotent: with everything present it only asks dpkg.
set -uo pipefail

packages=(
  libjemalloc2 # the rtp-proxy's allocator under `streammesh up`
  libsrtp2-1   # libsrtp2 at run time: the native/srtp addon loads it (SRTP engine libsrtp)
  libsrtp2-dev # its headers and link library, to build native/srtp at npm install
)

# shellcheck source=lib/apt-peers.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-peers.sh"

mapfile -t missing < <(missing_packages "${packages[@]}")
[[ ${#missing[@]} -eq 0 ]] && exit 0
# apt_privileges exits when it cannot install; the install goes on without.
(
  apt_privileges install-runtime-packages "${missing[@]}"
  echo "install-runtime-packages: installing ${missing[*]}" >&2
  apt_env=(env DEBIAN_FRONTEND=noninteractive)
  "${sudo[@]}" "${apt_env[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null ||
    { "${sudo[@]}" "${apt_env[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      "${sudo[@]}" "${apt_env[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null; }
) || echo "install-runtime-packages: not installed (${missing[*]}); without libjemalloc2 the rtp-proxy uses glibc's malloc, without libsrtp2 SRTP runs on node:crypto" >&2
exit 0
