/**
 * ffmpeg as an RTP/SRTP sender and receiver.
 *
 * Sender: a short H.264 clip (made once per machine, cached) streamed in real
 * time with `-c copy -f rtp`. With `-c copy` from MKV the SPS/PPS travel only
 * in the SDP (sprop-parameter-sets), so a receiver needs the sender's SDP:
 * `clipSdp()` gets it without sending anything, so the receiver can start
 * first and see the first key frame.
 *
 * Receiver: ffmpeg reads an SDP rewritten to its port (with an a=crypto line
 * for SRTP), decodes with one thread (no frame-threading delay), and prints
 * one framemd5 line per decoded frame, which we count and compare with the
 * clip's own frame hashes. Ending it so that no frame is lost takes care:
 * the last access unit waits in ffmpeg's H.264 parser until the input ends,
 * and a read that times out (`-listen_timeout`, after a silence of that many
 * seconds) is such an end, while a SIGINT alone leaves ffmpeg blocked in the
 * read, and two SIGINTs abort it and lose the last 2-3 frames. So once
 * frames stop arriving we send one SIGINT, and ffmpeg exits, with every
 * frame, when its current read times out. Left alone it exits after about
 * twice the silence; with no packet at all, after the silence once.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  peerPid,
  requirePeer,
  spawnPeer,
  waitUdpBound,
  type PeerExit,
  type PeerProcess,
} from './process.js';
import { SRTP_SUITE } from './srtp-key.js';

export interface ClipOptions {
  readonly seconds?: number;
  readonly fps?: number;
  readonly width?: number;
  readonly height?: number;
}

export interface TestClip {
  /** An MKV file with one H.264 stream: no B-frames, a key frame every second. */
  readonly path: string;
  readonly frames: number;
  readonly durationMs: number;
  /** framemd5 hash of every decoded frame, in order. */
  readonly frameHashes: readonly string[];
}

/** Where generated clips are kept between test runs. */
export const peersCacheDir = join(tmpdir(), 'streammesh-peers-cache');

/** The H.264 test clip, generated on first use (about 0.3 s) and then reused. */
export async function testClip(options: ClipOptions = {}): Promise<TestClip> {
  requirePeer('ffmpeg');
  const { seconds = 4, fps = 25, width = 320, height = 240 } = options;
  mkdirSync(peersCacheDir, { recursive: true });
  const base = join(peersCacheDir, `testsrc-${width}x${height}-${fps}fps-${seconds}s`);
  const path = `${base}.mkv`;
  const hashesPath = `${base}.framemd5.json`;
  if (!existsSync(path) || !existsSync(hashesPath)) {
    // Written under a private name, then renamed: concurrent test files never see half a clip.
    const temporary = `${base}.${process.pid}.tmp.mkv`;
    const made = await spawnPeer(
      'ffmpeg',
      [
        ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'],
        ...['-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=${fps}`],
        ...['-t', String(seconds), '-c:v', 'libx264', '-g', String(fps), '-bf', '0'],
        ...['-pix_fmt', 'yuv420p', temporary],
      ],
      { timeoutMs: 60_000 },
    ).exited;
    if (made.code !== 0) throw new Error(`ffmpeg could not make the test clip:\n${made.stderr}`);
    const decoded = await spawnPeer(
      'ffmpeg',
      [...decoderArgs(), '-i', temporary, ...frameHashOutputArgs()],
      { timeoutMs: 60_000 },
    ).exited;
    if (decoded.code !== 0) throw new Error(`ffmpeg could not decode the clip:\n${decoded.stderr}`);
    writeFileSync(
      `${hashesPath}.${process.pid}.tmp`,
      JSON.stringify(parseFrameHashes(decoded.stdout)),
    );
    renameSync(temporary, path);
    renameSync(`${hashesPath}.${process.pid}.tmp`, hashesPath);
  }
  const frameHashes = JSON.parse(readFileSync(hashesPath, 'utf8')) as string[];
  return { path, frames: frameHashes.length, durationMs: seconds * 1000, frameHashes };
}

export interface RtpStreamOptions {
  readonly payloadType?: number;
  readonly ssrc?: number;
  /** base64 key||salt: send SRTP (AES_CM_128_HMAC_SHA1_80) instead of RTP. */
  readonly srtpKey?: string;
}

/**
 * The SDP ffmpeg writes for this clip and stream (sprop-parameter-sets, and
 * a=crypto for SRTP), got with `-t 0`: no packet is sent. Its m= port is 9.
 */
export async function clipSdp(clip: TestClip, options: RtpStreamOptions = {}): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'streammesh-sdp-'));
  const sdpFile = join(directory, 'clip.sdp');
  const result = await spawnPeer(
    'ffmpeg',
    [
      ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-i', clip.path],
      ...['-t', '0', ...rtpOutputArgs(options), `${scheme(options)}://127.0.0.1:9`],
      ...['-sdp_file', sdpFile],
    ],
    { timeoutMs: 15_000 },
  ).exited;
  if (result.code !== 0 || !existsSync(sdpFile)) {
    throw new Error(`ffmpeg wrote no SDP:\n${result.stderr}`);
  }
  return readFileSync(sdpFile, 'utf8');
}

export interface SendRtpOptions extends RtpStreamOptions {
  readonly clip: TestClip;
  readonly port: number;
  readonly host?: string;
  /** Source port of the RTP packets (RTCP goes from the port above). */
  readonly localPort?: number;
  /** Send in real time (`-re`, the default) or as fast as possible. */
  readonly realtime?: boolean;
  /** Hard bound; default: the clip's length plus 10 s. */
  readonly timeoutMs?: number;
}

/** Streams the clip to host:port; resolves when ffmpeg has sent it all. */
export async function sendRtp(options: SendRtpOptions): Promise<PeerExit> {
  const sender = startRtpSender(options);
  const result = await sender.exited;
  if (result.code !== 0) {
    throw new Error(`ffmpeg sender exited ${result.code ?? result.signal}:\n${result.stderr}`);
  }
  return result;
}

/** Starts streaming the clip; the caller awaits `exited` or stops it. */
export function startRtpSender(options: SendRtpOptions): PeerProcess {
  requirePeer('ffmpeg');
  const host = options.host ?? '127.0.0.1';
  const query =
    options.localPort === undefined
      ? ''
      : `?localrtpport=${options.localPort}&localrtcpport=${options.localPort + 1}`;
  return spawnPeer(
    'ffmpeg',
    [
      ...['-nostdin', '-hide_banner', '-loglevel', 'warning'],
      ...(options.realtime === false ? [] : ['-re']),
      ...['-i', options.clip.path],
      ...rtpOutputArgs(options),
      `${scheme(options)}://${host}:${options.port}${query}`,
    ],
    { timeoutMs: options.timeoutMs ?? options.clip.durationMs + 10_000 },
  );
}

export interface ReceiveRtpOptions {
  /** An SDP describing the stream (from `clipSdp()` or `gstreamerSdp()`). */
  readonly sdp: string;
  /** Port the receiver binds (RTCP on port+1). */
  readonly port: number;
  /** base64 key||salt to decrypt SRTP with; omitted: plain RTP, any a=crypto dropped. */
  readonly srtpKey?: string;
  /** Hard bound on the receiver's life. */
  readonly timeoutMs: number;
  /**
   * ffmpeg's read timeout (`-listen_timeout`, whole seconds, default 2 s): the
   * first packet must come sooner, and the receiver ends this long after the last.
   */
  readonly silenceMs?: number;
  /** `result()` stops the receiver once frames have stopped for this long (default 1.5 s). */
  readonly idleMs?: number;
}

export interface ReceiveResult {
  readonly frames: number;
  readonly frameHashes: readonly string[];
  /** ffmpeg logged "HMAC mismatch": SRTP authentication failed (a wrong key). */
  readonly hmacMismatch: boolean;
  readonly stderr: string;
  readonly exit: PeerExit;
}

export interface RtpReceiver {
  readonly process: PeerProcess;
  /** Frames decoded so far. */
  frames(): number;
  /** Waits until frames stop, ends ffmpeg without losing any, and returns what it decoded. */
  result(): Promise<ReceiveResult>;
  /** Stops now with SIGINT (the last frames still in ffmpeg's parser are lost). */
  stop(): Promise<ReceiveResult>;
}

/** Starts an ffmpeg receiver; resolves once it has bound its port. */
export async function startRtpReceiver(options: ReceiveRtpOptions): Promise<RtpReceiver> {
  requirePeer('ffmpeg');
  const directory = await mkdtemp(join(tmpdir(), 'streammesh-rx-'));
  const sdpFile = join(directory, 'receive.sdp');
  await writeFile(sdpFile, rewriteSdp(options.sdp, options));
  let frames = 0;
  let lastFrameAt = 0;
  let partial = '';
  const silenceSeconds = Math.max(1, Math.ceil((options.silenceMs ?? 2_000) / 1000));
  const idleMs = options.idleMs ?? 1_500;
  const peer = spawnPeer(
    'ffmpeg',
    [
      ...decoderArgs(),
      ...['-listen_timeout', String(silenceSeconds)],
      // Do not hold frames back to estimate the frame rate (no SDP says it).
      ...['-fpsprobesize', '0'],
      ...['-protocol_whitelist', 'file,udp,rtp,srtp,crypto', '-i', sdpFile],
      ...frameHashOutputArgs(),
    ],
    {
      timeoutMs: options.timeoutMs,
      onStdout(chunk) {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (frameLine.test(line)) {
            frames++;
            lastFrameAt = Date.now();
          }
        }
      },
    },
  );
  await waitUdpBound(options.port, 5_000, () => peer.stderr());
  const collect = (exit: PeerExit): ReceiveResult => {
    const frameHashes = parseFrameHashes(exit.stdout);
    return {
      frames: frameHashes.length,
      frameHashes,
      hmacMismatch: /HMAC mismatch/i.test(exit.stderr),
      stderr: exit.stderr,
      exit,
    };
  };
  return {
    process: peer,
    frames: () => frames,
    async result() {
      // Without any frame, ffmpeg's own read timeout ends it.
      while (peer.running() && (frames === 0 || Date.now() - lastFrameAt < idleMs)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (!peer.running()) return collect(await peer.exited);
      // One SIGINT: ffmpeg finishes at its next read timeout, flushing every frame.
      const pid = peerPid(peer);
      try {
        if (pid !== undefined) process.kill(pid, 'SIGINT');
      } catch {
        // it ended by itself meanwhile
      }
      return collect(await peer.exited);
    },
    stop: async () => collect(await peer.stop('SIGINT')),
  };
}

/**
 * Points an SDP at 127.0.0.1:`port`; with `srtpKey`, makes it RTP/SAVP with one
 * a=crypto line carrying that key, otherwise RTP/AVP with no a=crypto.
 */
export function rewriteSdp(sdp: string, target: { port: number; srtpKey?: string }): string {
  const lines = sdp
    .split(/\r?\n/)
    .filter((line) => line !== '' && !line.startsWith('a=crypto:'))
    .map((line) => {
      if (line.startsWith('c=')) return 'c=IN IP4 127.0.0.1';
      const media = /^m=(\w+) \d+ (\S+) (.*)$/.exec(line);
      if (media === null) return line;
      const profile = target.srtpKey === undefined ? 'RTP/AVP' : 'RTP/SAVP';
      return `m=${media[1] ?? 'video'} ${target.port} ${profile} ${media[3] ?? ''}`;
    });
  if (target.srtpKey !== undefined) {
    lines.push(`a=crypto:1 ${SRTP_SUITE} inline:${target.srtpKey}`);
  }
  return `${lines.join('\n')}\n`;
}

const frameLine = /^\d+,\s*-?\d+,\s*-?\d+,\s*\d+,\s*\d+,\s*([0-9a-f]{32})\s*$/;

export function parseFrameHashes(framemd5: string): string[] {
  const hashes: string[] = [];
  for (const line of framemd5.split('\n')) {
    const hash = frameLine.exec(line)?.[1];
    if (hash !== undefined) hashes.push(hash);
  }
  return hashes;
}

/** One decoding thread: frame threading would hold the last frames back. */
function decoderArgs(): string[] {
  return ['-nostdin', '-hide_banner', '-threads', '1'];
}

/** One line per decoded frame, no frame dropped or duplicated for timing, flushed as it goes. */
function frameHashOutputArgs(): string[] {
  return [
    '-map',
    '0:v:0',
    '-fps_mode',
    'passthrough',
    '-flush_packets',
    '1',
    '-f',
    'framemd5',
    '-',
  ];
}

function rtpOutputArgs(options: RtpStreamOptions): string[] {
  const args = [
    ...['-map', '0:v:0', '-c', 'copy', '-f', 'rtp'],
    ...['-payload_type', String(options.payloadType ?? 96)],
    // ffmpeg's -ssrc is a signed 32-bit option.
    ...['-ssrc', String((options.ssrc ?? 0x11223344) | 0)],
  ];
  if (options.srtpKey !== undefined) {
    args.push('-srtp_out_suite', SRTP_SUITE, '-srtp_out_params', options.srtpKey);
  }
  return args;
}

function scheme(options: RtpStreamOptions): string {
  return options.srtpKey === undefined ? 'rtp' : 'srtp';
}
