#!/usr/bin/env bash
# Installs the third-party peers that the RTP tests (test/integration/peers, the rtp-proxy
# integration tests) and `npm run bench:rtp` run against: ffmpeg, GStreamer
# (x264enc, rtph264pay, srtpenc), tshark and rtpengine, and the Chromium that
# the WebRTC tests drive with puppeteer-core. Debian packages only.
#
# Idempotent and non-interactive: when every package is already installed it
# only asks dpkg and exits (well under 2 s); otherwise it runs `apt-get update`
# once and installs just the missing packages, with sudo when not root.
# Daemons are never started here: tests start rtpengine themselves, in the
# foreground, on 127.0.0.1.
set -euo pipefail

packages=(
  ffmpeg                       # RTP/SRTP sender and receiver, test clip
  gstreamer1.0-tools           # gst-launch-1.0
  gstreamer1.0-plugins-base    # videotestsrc, videoconvert
  gstreamer1.0-plugins-good    # rtph264pay, udpsink
  gstreamer1.0-plugins-bad     # srtpenc (libsrtp2)
  gstreamer1.0-plugins-ugly    # x264enc
  gstreamer1.0-libav           # avdec_h264: rtspsrc viewers decode what the RTSP proxy serves
  tshark                       # independent loss/jitter (-z rtp,streams)
  rtpengine-daemon             # the RTP/SRTP relay to compare with
  procps                       # pgrep, to find the proxy under `streammesh up`
  gstreamer1.0-rtsp            # GStreamer's RTSP server library: the camera in RTSP tests
  gir1.2-gst-rtsp-server-1.0   # its Python bindings
  python3-gst-1.0              # GStreamer from Python (test/helpers/peers/rtsp-camera.py)
  libsrtp2-dev                 # libsrtp2 headers for the SRTP interop test's C peer
  gcc                          # builds that peer
  libc6-dev
  chromium                     # headless WebRTC peer (test/helpers/peers/chromium.ts)
  curl                         # HTTP/2 Upgrade: h2c client in the HTTP proxy tests
  nghttp2-client               # h2load: the HTTP/2 flood of the L7 listener (test/e2e/l7/flood-isolation)
  prometheus                   # promtool: `check metrics` lints every role's /metrics (test/e2e/mesh/metrics-conventions)
)

# shellcheck source=lib/apt-peers.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-peers.sh"

mapfile -t missing < <(missing_packages "${packages[@]}")
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
apt_privileges install-test-peers "${missing[@]}"

echo "install-test-peers: installing ${missing[*]}" >&2

# tshark's package asks whether non-root users may capture; answer no up front.
echo 'wireshark-common wireshark-common/install-setuid boolean false' |
  "${sudo[@]}" debconf-set-selections

apt_env=(env DEBIAN_FRONTEND=noninteractive)
"${sudo[@]}" "${apt_env[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
"${sudo[@]}" "${apt_env[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
  --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" >/dev/null

echo "install-test-peers: done" >&2
