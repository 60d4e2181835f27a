/**
 * When each RTP packet crossed the wire, from a tshark capture on loopback:
 * the kernel stamps each packet as it passes, so the figures do not depend
 * on when a test process (or tshark) got round to reading it. Packets are
 * told apart by their RTP timestamp, which test senders make unique (see
 * rtp-pacer.ts).
 *
 * The capture gets a large kernel buffer and a raised priority: on a
 * machine under load, tshark's default 2 MiB buffer overflowed during a
 * stall of tshark and whole seconds of packets were missing from the file
 * though they had been delivered. Callers should still compare the packets
 * captured with those sent.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requirePeer, sleep, spawnPeer, type PeerProcess } from './process.js';

const run = promisify(execFile);

export interface WirePacket {
  /** Capture time, ms since the epoch. */
  readonly atMs: number;
  readonly rtpTimestamp: number;
}

export interface RtpCapture {
  readonly file: string;
  readonly peer: PeerProcess;
  /** Ends the capture once the last packets in flight are in; idempotent. */
  stop(): Promise<void>;
}

/** Kernel buffer for the capture, MiB: tens of seconds of a few thousand packets/s. */
const CAPTURE_BUFFER_MIB = 256;
/** The capture is measurement, not load: it goes ahead of the system under test. */
const CAPTURE_PRIORITY = -10;

/** Captures UDP to and from `ports` on lo until stopped (or `timeoutMs`). */
export async function startRtpCapture(
  ports: readonly number[],
  timeoutMs: number,
): Promise<RtpCapture> {
  requirePeer('tshark');
  const file = join(await mkdtemp(join(tmpdir(), 'streammesh-cap-')), 'rtp.pcapng');
  const filter = ports.map((port) => `udp port ${port}`).join(' or ');
  const peer = spawnPeer(
    'nice',
    [
      ...['-n', String(CAPTURE_PRIORITY), 'tshark', '-i', 'lo'],
      ...['-B', String(CAPTURE_BUFFER_MIB), '-f', filter, '-w', file],
    ],
    { timeoutMs },
  );
  await peer.waitForStderr(/Capturing on|Capture started/, 15_000);
  // The message comes as dumpcap starts its loop; give the filter a moment to be in place.
  await sleep(150);
  return {
    file,
    peer,
    stop: async () => {
      if (!peer.running()) return;
      await sleep(200);
      await peer.stop('SIGINT');
    },
  };
}

/** The RTP packets sent to each of `ports` (UDP destination port), in capture order. */
export async function rtpWireTimes(
  file: string,
  ports: readonly number[],
): Promise<Map<number, WirePacket[]>> {
  requirePeer('tshark');
  // execFile rather than spawnPeer: a line per packet can outgrow a peer's kept output.
  const { stdout } = await run(
    'tshark',
    [
      ...['-r', file, ...ports.flatMap((port) => ['-d', `udp.port==${port},rtp`])],
      ...['-Y', 'rtp', '-T', 'fields', '-E', 'separator=,'],
      ...['-e', 'frame.time_epoch', '-e', 'udp.dstport', '-e', 'rtp.timestamp'],
    ],
    { timeout: 120_000, maxBuffer: 256 * 2 ** 20, encoding: 'utf8' },
  );
  const byPort = new Map<number, WirePacket[]>(ports.map((port) => [port, []]));
  for (const line of stdout.split('\n')) {
    const [epoch, port, timestamp] = line.trim().split(',');
    if (epoch === undefined || port === undefined || timestamp === undefined) continue;
    byPort.get(Number(port))?.push({
      atMs: Number(epoch) * 1000,
      rtpTimestamp: Number(timestamp),
    });
  }
  return byPort;
}
