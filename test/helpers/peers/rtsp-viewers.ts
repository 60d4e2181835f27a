/**
 * Real RTSP viewers for the proxy tests: ffprobe counting packets, ffmpeg
 * decoding (and reporting decoder errors), GStreamer rtspsrc decoding a
 * fixed number of frames. Each is bounded in time.
 */
import { spawnPeer, type PeerProcess } from './process.js';

export type RtspTransport = 'udp' | 'tcp';

export interface ProbeResult {
  readonly codec: string | undefined;
  readonly packets: number;
  readonly output: string;
}

/** ffprobe reading `seconds` of the stream. */
export async function probeRtsp(
  url: string,
  transport: RtspTransport,
  seconds = 2,
): Promise<ProbeResult> {
  const exit = await spawnPeer(
    'ffprobe',
    [
      ...['-v', 'error', '-rtsp_transport', transport, '-i', url],
      ...['-read_intervals', `%+${seconds}`, '-count_packets'],
      ...['-show_entries', 'stream=codec_name,nb_read_packets', '-of', 'compact'],
    ],
    { timeoutMs: (seconds + 15) * 1000 },
  ).exited;
  const match = /codec_name=(\w+)\|nb_read_packets=(\d+)/.exec(exit.stdout);
  return {
    codec: match?.[1],
    packets: Number(match?.[2] ?? 0),
    output: `${exit.stdout}${exit.stderr}`,
  };
}

/** ffmpeg decoding the stream to nothing for `seconds`; frames decoded and error lines. */
export function decodeRtsp(
  url: string,
  transport: RtspTransport,
  seconds: number,
): { peer: PeerProcess; result: Promise<{ frames: number; errors: string[]; output: string }> } {
  const peer = spawnPeer(
    'ffmpeg',
    [
      ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-stats'],
      ...['-rtsp_transport', transport, '-i', url, '-t', String(seconds), '-f', 'null', '-'],
    ],
    { timeoutMs: (seconds + 20) * 1000, stopSignal: 'SIGINT' },
  );
  const result = peer.exited.then((exit) => {
    const frames = [...exit.stderr.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1]));
    const errors = exit.stderr
      .split(/[\r\n]+/)
      .filter((line) => line.trim() !== '' && !/^\s*frame=|^\s*size=/.test(line));
    return { frames: Math.max(0, ...frames), errors, output: exit.stderr };
  });
  return { peer, result };
}

export interface GstViewerResult {
  /** True once `frames` decoded frames reached the end of the pipeline. */
  readonly decoded: boolean;
  readonly output: string;
}

/**
 * GStreamer rtspsrc decoding `frames` frames. Success is the EOS that
 * `identity eos-after` sends after them reaching the bus, not the exit code:
 * rtspsrc 1.22 sometimes fails its own PAUSE while the pipeline shuts down
 * (the request never leaves the client) and then exits 1.
 */
export async function gstRtspViewer(
  url: string,
  transport: RtspTransport,
  frames: number,
  credentials?: { user: string; password: string },
): Promise<GstViewerResult> {
  const auth =
    credentials === undefined
      ? []
      : [`user-id=${credentials.user}`, `user-pw=${credentials.password}`];
  const exit = await spawnPeer(
    'gst-launch-1.0',
    [
      ...['rtspsrc', `location=${url}`, `protocols=${transport}`, 'latency=100', ...auth, '!'],
      ...['rtph264depay', '!', 'h264parse', '!', 'avdec_h264', '!'],
      ...['identity', `eos-after=${frames}`, '!', 'fakesink', 'sync=false'],
    ],
    { timeoutMs: 30_000, stopSignal: 'SIGINT' },
  ).exited;
  return {
    decoded: exit.stdout.includes('Got EOS from element "pipeline0"'),
    output: `${exit.stdout}${exit.stderr}`,
  };
}
