/**
 * tshark as an independent judge of RTP loss and jitter: capture on `lo`
 * with a port filter into a pcapng, then `-z rtp,streams` on the file.
 *
 * For a dynamic payload type tshark needs the codec (hence the clock rate)
 * or it reports jitter as 0: `-o h264.dynamic.payload.type:96` maps PT 96 to
 * H.264 (90 kHz); static types (0 PCMU, 8 PCMA at 8 kHz) need nothing. SRTP
 * headers are in clear, so loss and jitter read the same on SRTP.
 *
 * `-z rtp,streams` on tshark 4.0 prints, per stream:
 *   Start time  End time  Src IP addr  Port  Dest IP addr  Port  SSRC  Payload  Pkts
 *   Lost ("N (x.x%)", negative with duplicates)  Min/Mean/Max Delta(ms)
 *   Min/Mean/Max Jitter(ms)  Problems? ("X" when tshark saw sequence errors etc.)
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requirePeer, sleep, spawnPeer, type PeerProcess } from './process.js';

export interface CaptureOptions {
  /** UDP ports to capture (either direction). */
  readonly ports?: readonly number[];
  /** Or an inclusive UDP port range. */
  readonly portRange?: readonly [number, number];
  /** Or a capture filter of its own (e.g. `tcp port 15101`). */
  readonly filter?: string;
  readonly interface?: string;
  /** Output file; default: a new temporary pcapng. */
  readonly file?: string;
  /** Hard bound on the capture's life. */
  readonly timeoutMs?: number;
}

export interface Capture {
  readonly file: string;
  readonly process: PeerProcess;
  /** Ends the capture and waits until the file is complete. */
  stop(): Promise<{ packets: number }>;
}

/** Starts tshark and resolves once it reports that it is capturing. */
export async function startCapture(options: CaptureOptions): Promise<Capture> {
  requirePeer('tshark');
  const file = options.file ?? join(await mkdtemp(join(tmpdir(), 'streammesh-cap-')), 'cap.pcapng');
  const filter = captureFilter(options);
  const peer = spawnPeer('tshark', ['-i', options.interface ?? 'lo', '-f', filter, '-w', file], {
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  await peer.waitForStderr(/Capturing on|Capture started/, 15_000);
  // The message comes as dumpcap starts its loop; give the filter a moment to be in place.
  await sleep(150);
  return {
    file,
    process: peer,
    async stop() {
      // libpcap's memory-mapped ring hands dumpcap a block of packets when it
      // fills or when its read timeout (dumpcap's 250 ms) retires it, and a
      // stop drops the block not yet handed over: wait past that timeout.
      // With 200 ms, mtls-capture lost its last request's packets in 2 of 7
      // runs on a slow machine; with 600 ms, none of 6.
      await sleep(600);
      const exit = await peer.stop('SIGINT');
      const packets = /(\d+) packets? captured/.exec(exit.stderr)?.[1];
      return { packets: packets === undefined ? 0 : Number.parseInt(packets, 10) };
    },
  };
}

export interface RtpStreamsOptions {
  /** Decode these UDP ports as RTP (`-d udp.port==P,rtp`). */
  readonly rtpPorts?: readonly number[];
  /** Find RTP by tshark's heuristic instead (also for ports not listed). */
  readonly heuristic?: boolean;
  /** Dynamic payload type carrying H.264 (90 kHz); default 96. */
  readonly h264PayloadType?: number;
  /** Further `-o name:value` preferences (e.g. another codec's dynamic payload type). */
  readonly preferences?: Readonly<Record<string, string>>;
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface RtpStreamStats {
  readonly src: Endpoint;
  readonly dst: Endpoint;
  readonly ssrc: number;
  /** tshark's payload name: "h264", "g711U", "RTPType-97", ... */
  readonly payload: string;
  /** The RTP payload type number, from the packets themselves. */
  readonly payloadType: number | undefined;
  readonly packets: number;
  /** Expected minus received: negative when duplicates outnumber losses. */
  readonly lost: number;
  readonly lossPercent: number;
  readonly minDeltaMs: number;
  readonly meanDeltaMs: number;
  readonly maxDeltaMs: number;
  readonly minJitterMs: number;
  readonly meanJitterMs: number;
  readonly maxJitterMs: number;
  /** tshark flagged the stream (wrong sequence, timestamp jumps, ...). */
  readonly problems: boolean;
}

/** Reads a capture and returns tshark's per-stream RTP statistics. */
export async function rtpStreams(
  file: string,
  options: RtpStreamsOptions = {},
): Promise<RtpStreamStats[]> {
  requirePeer('tshark');
  const decode = decodeArgs(options);
  const [summary, fields] = await Promise.all([
    runTshark(['-r', file, '-q', ...decode, '-z', 'rtp,streams']),
    runTshark([
      ...['-r', file, ...decode, '-Y', 'rtp', '-T', 'fields', '-E', 'separator=,'],
      ...['-e', 'rtp.ssrc', '-e', 'rtp.p_type', '-e', 'udp.dstport'],
    ]),
  ]);
  const payloadTypes = new Map<string, number>();
  for (const line of fields.split('\n')) {
    const [ssrc, pt, dstPort] = line.trim().split(',');
    if (ssrc === undefined || pt === undefined || dstPort === undefined) continue;
    const key = `${Number.parseInt(ssrc, 16)}/${dstPort}`;
    if (!payloadTypes.has(key)) payloadTypes.set(key, Number.parseInt(pt, 10));
  }
  return parseRtpStreams(summary).map((stream) => ({
    ...stream,
    payloadType: payloadTypes.get(`${stream.ssrc}/${stream.dst.port}`) ?? stream.payloadType,
  }));
}

const streamLine = new RegExp(
  [
    String.raw`^\s*([\d.]+)\s+([\d.]+)`, // start, end
    String.raw`\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)`, // src ip, port, dst ip, port
    String.raw`\s+0x([0-9a-fA-F]+)\s+(.+?)\s+(\d+)`, // ssrc, payload, packets
    String.raw`\s+(-?\d+) \((-?[\d.]+)%\)`, // lost (percent)
    String.raw`\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)`, // min, mean, max delta
    String.raw`\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)`, // min, mean, max jitter
    String.raw`\s*(X?)\s*$`, // problems
  ].join(''),
);

/** Parses the text of `tshark -q -z rtp,streams`. */
export function parseRtpStreams(text: string): RtpStreamStats[] {
  const streams: RtpStreamStats[] = [];
  for (const line of text.split('\n')) {
    const m = streamLine.exec(line);
    if (m === null) continue;
    const n = (i: number): number => Number.parseFloat(m[i] ?? 'NaN');
    const payload = m[8] ?? '';
    const dynamic = /^RTPType-(\d+)$/.exec(payload)?.[1];
    streams.push({
      src: { address: m[3] ?? '', port: n(4) },
      dst: { address: m[5] ?? '', port: n(6) },
      ssrc: Number.parseInt(m[7] ?? '', 16),
      payload,
      payloadType: dynamic === undefined ? undefined : Number.parseInt(dynamic, 10),
      packets: n(9),
      lost: n(10),
      lossPercent: n(11),
      minDeltaMs: n(12),
      meanDeltaMs: n(13),
      maxDeltaMs: n(14),
      minJitterMs: n(15),
      meanJitterMs: n(16),
      maxJitterMs: n(17),
      problems: m[18] === 'X',
    });
  }
  return streams;
}

function captureFilter(options: CaptureOptions): string {
  if (options.filter !== undefined) return options.filter;
  if (options.portRange !== undefined) {
    return `udp portrange ${options.portRange[0]}-${options.portRange[1]}`;
  }
  const ports = options.ports ?? [];
  if (ports.length === 0) throw new Error('startCapture needs ports or portRange');
  return ports.map((port) => `udp port ${port}`).join(' or ');
}

function decodeArgs(options: RtpStreamsOptions): string[] {
  const args = ['-o', `h264.dynamic.payload.type:${options.h264PayloadType ?? 96}`];
  for (const [name, value] of Object.entries(options.preferences ?? {})) {
    args.push('-o', `${name}:${value}`);
  }
  for (const port of options.rtpPorts ?? []) args.push('-d', `udp.port==${port},rtp`);
  if (options.heuristic === true || (options.rtpPorts ?? []).length === 0) {
    args.push('--enable-heuristic', 'rtp_udp');
  }
  return args;
}

async function runTshark(args: readonly string[]): Promise<string> {
  const exit = await spawnPeer('tshark', args, { timeoutMs: 60_000 }).exited;
  if (exit.code !== 0)
    throw new Error(`tshark ${args.join(' ')} exited ${exit.code}:\n${exit.stderr}`);
  return exit.stdout;
}

/** The TCP payloads of a capture's packets that match a display filter, as one buffer. */
export async function capturedTcpPayloads(file: string, filter = 'tcp'): Promise<Buffer> {
  const peer = spawnPeer(
    'tshark',
    ['-r', file, '-Y', filter, '-T', 'fields', '-e', 'tcp.payload'],
    { timeoutMs: 30_000 },
  );
  const exit = await peer.exited;
  if (exit.code !== 0) throw new Error(`tshark -r ${file} -Y ${filter}: ${exit.stderr}`);
  return Buffer.concat(
    exit.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => Buffer.from(line.replaceAll(':', '').trim(), 'hex')),
  );
}

/** How many packets of a capture match a display filter (`decode`: tshark's -d options). */
export async function countCaptured(
  file: string,
  filter: string,
  decode: readonly string[] = [],
): Promise<number> {
  const args = ['-r', file, ...decode, '-Y', filter, '-T', 'fields', '-e', 'frame.number'];
  const peer = spawnPeer('tshark', args, { timeoutMs: 30_000 });
  const exit = await peer.exited;
  if (exit.code !== 0) throw new Error(`tshark -r ${file} -Y ${filter}: ${exit.stderr}`);
  return exit.stdout.split('\n').filter((line) => line.trim() !== '').length;
}
