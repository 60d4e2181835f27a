#!/usr/bin/python3
"""An RTSP camera for tests: GStreamer's RTSP server serving a live H.264
test pattern at rtsp://127.0.0.1:PORT/PATH, over UDP and TCP-interleaved,
one shared media for every client, optionally behind Basic/Digest auth,
optionally over TCP-interleaved only (a UDP SETUP is then answered 461).

usage: rtsp-camera.py PORT PATH [--user NAME --password SECRET [--digest]] [--tcp-only]
                      [--size WxH] [--bitrate KBPS] [--pattern NAME]

Prints "ready" on stdout once it listens, and "session N" each time it
creates an RTSP session (N counts from 1); runs until SIGINT/SIGTERM.
Run with /usr/bin/python3: the python3 first on PATH may lack gi.
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

LAUNCH = (
    "( videotestsrc is-live=true pattern={pattern} ! video/x-raw,width={width},height={height},framerate=25/1"
    " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 sliced-threads=false{bitrate}"
    " ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def count_sessions(server: GstRtspServer.RTSPServer) -> None:
    """Prints "session N" per new RTSP session: tests count how many sessions
    the proxy opened on the camera (one, however many viewers it serves)."""
    sessions = 0

    def on_new_session(_client: object, _session: object) -> None:
        nonlocal sessions
        sessions += 1
        print(f"session {sessions}", flush=True)

    def on_client_connected(_server: object, client: GstRtspServer.RTSPClient) -> None:
        client.connect("new-session", on_new_session)

    server.connect("client-connected", on_client_connected)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("path")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--digest", action="store_true")
    parser.add_argument("--tcp-only", action="store_true")
    parser.add_argument("--size", default="320x240", help="WxH (benchmarks)")
    parser.add_argument("--bitrate", type=int, help="x264 kbit/s (benchmarks; default x264's)")
    parser.add_argument("--pattern", default="ball", help="videotestsrc pattern (benchmarks)")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    width, height = args.size.split("x")
    bitrate = "" if args.bitrate is None else f" bitrate={args.bitrate}"
    factory.set_launch(
        LAUNCH.format(pattern=args.pattern, width=int(width), height=int(height), bitrate=bitrate)
    )
    factory.set_shared(True)
    if args.tcp_only:
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        if args.digest:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(
            Gst.Structure.new_from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/" + args.path.strip("/"), factory)
    count_sessions(server)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        sys.exit(1)
    loop = GLib.MainLoop()
    for number in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, number, loop.quit)
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
