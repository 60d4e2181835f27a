/**
 * rtpengine (Debian's rtpengine-daemon, userspace forwarding) as the RTP/SRTP
 * relay to compare with, driven over its NG control protocol: a UDP datagram
 * holding a cookie, a space and a bencoded dictionary; the reply carries the
 * same cookie.
 *
 * The daemon runs in the foreground under `timeout`, with no config file,
 * kernel forwarding off (`--table=-1`), media on 127.0.0.1 and a port range
 * of our choosing; `--delete-delay=0` frees a deleted call's ports at once.
 *
 * A one-way relay A -> B is a call: A's offer (its SDP) goes in, and the SDP
 * that comes out is what B would get; B's answer goes in, and the SDP that
 * comes out names the port A must send to. For RTP -> SRTP the offer asks for
 * `transport-protocol: RTP/SAVP`: rtpengine then offers B several a=crypto
 * suites with its own keys; B's answer must echo the tag of the suite it
 * picks, and rtpengine encrypts towards B with the key it offered under
 * that tag.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bdecode, bencode, isBencodeDict, type BencodeDict, type BencodeValue } from './bencode.js';
import {
  freeUdpPort,
  requirePeer,
  sleep,
  spawnPeer,
  type PeerExit,
  type PeerProcess,
} from './process.js';
import { SRTP_SUITE, randomSrtpKey } from './srtp-key.js';

/** rtpengine answered `result: error`. */
export class NgError extends Error {
  override readonly name = 'NgError';
  readonly code = 'ERR_NG_RESULT';
  readonly reply: BencodeDict;

  constructor(command: string, reply: BencodeDict) {
    const reason = reply['error-reason'];
    super(`rtpengine ${command}: ${typeof reason === 'string' ? reason : 'error'}`);
    this.reply = reply;
  }
}

/** No reply to an NG command after every retry. */
export class NgTimeoutError extends Error {
  override readonly name = 'NgTimeoutError';
  readonly code = 'ERR_NG_TIMEOUT';
}

interface Pending {
  readonly resolve: (reply: BencodeDict) => void;
  readonly reject: (error: Error) => void;
}

/** An NG protocol client over UDP. */
export class NgClient {
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  readonly #prefix = randomBytes(4).toString('hex');
  #counter = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (message) => this.#onMessage(message));
    socket.on('error', () => {
      // ICMP port unreachable while the daemon starts: the retry handles it.
    });
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<NgClient> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    socket.connect(port, host);
    await once(socket, 'connect');
    return new NgClient(socket);
  }

  /**
   * Sends `message` (a dictionary with `command`), retrying on silence, and
   * returns the reply; throws NgError when rtpengine answers with an error.
   */
  async request(
    message: BencodeDict,
    options: { timeoutMs?: number; attempts?: number } = {},
  ): Promise<BencodeDict> {
    const { timeoutMs = 500, attempts = 4 } = options;
    const command = typeof message['command'] === 'string' ? message['command'] : '?';
    const cookie = `${this.#prefix}_${++this.#counter}`;
    const datagram = Buffer.concat([Buffer.from(`${cookie} `), bencode(message)]);
    const reply = new Promise<BencodeDict>((resolve, reject) => {
      this.#pending.set(cookie, { resolve, reject });
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      for (let attempt = 0; attempt < attempts; attempt++) {
        this.#socket.send(datagram);
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const outcome = await Promise.race([reply, timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout') continue;
        if (outcome['result'] === 'error') {
          throw new NgError(command, outcome);
        }
        return outcome;
      }
    } finally {
      clearTimeout(timer);
      this.#pending.delete(cookie);
    }
    throw new NgTimeoutError(`rtpengine: no reply to ${command}`);
  }

  async ping(): Promise<void> {
    const reply = await this.request({ command: 'ping' });
    if (reply['result'] !== 'pong') throw new Error(`rtpengine ping: ${JSON.stringify(reply)}`);
  }

  offer(params: BencodeDict & { 'call-id': string; 'from-tag': string; sdp: string }) {
    return this.request({ ...params, command: 'offer' });
  }

  answer(
    params: BencodeDict & { 'call-id': string; 'from-tag': string; 'to-tag': string; sdp: string },
  ) {
    return this.request({ ...params, command: 'answer' });
  }

  delete(params: BencodeDict & { 'call-id': string }) {
    return this.request({ ...params, command: 'delete' });
  }

  query(callId: string) {
    return this.request({ command: 'query', 'call-id': callId });
  }

  close(): void {
    for (const pending of this.#pending.values()) pending.reject(new Error('NG client closed'));
    this.#pending.clear();
    this.#socket.close();
  }

  #onMessage(message: Buffer): void {
    const space = message.indexOf(0x20);
    if (space < 0) return;
    const pending = this.#pending.get(message.toString('latin1', 0, space));
    if (pending === undefined) return;
    try {
      const value = bdecode(message.subarray(space + 1));
      if (isBencodeDict(value)) pending.resolve(value);
      else pending.reject(new Error('rtpengine replied with a non-dictionary'));
    } catch (error) {
      pending.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

export interface RtpengineOptions {
  /** Media port range (inclusive); each relayed stream takes 4 ports (2 RTP/RTCP pairs). */
  readonly portMin: number;
  readonly portMax: number;
  /** Hard bound on the daemon's life. */
  readonly timeoutMs: number;
  /** NG control port on 127.0.0.1; default: a free one. */
  readonly ngPort?: number;
  /** Worker threads; default: rtpengine's (one per core). */
  readonly threads?: number;
  /** syslog-style level; default 6 (info: one line per call event, none per packet). */
  readonly logLevel?: number;
}

export interface Rtpengine {
  readonly ngPort: number;
  /** The daemon's own pid (not its `timeout` wrapper): for CPU accounting. */
  readonly pid: number;
  readonly client: NgClient;
  readonly process: PeerProcess;
  stop(): Promise<PeerExit>;
}

/** Starts rtpengine; resolves when it answers an NG ping. */
export async function startRtpengine(options: RtpengineOptions): Promise<Rtpengine> {
  requirePeer('rtpengine');
  const ngPort = options.ngPort ?? (await freeUdpPort());
  const pidFile = join(await mkdtemp(join(tmpdir(), 'streammesh-rtpengine-')), 'rtpengine.pid');
  const peer = spawnPeer(
    'rtpengine',
    [
      '--config-file=none',
      '--interface=127.0.0.1',
      `--listen-ng=127.0.0.1:${ngPort}`,
      '--foreground',
      '--log-stderr',
      '--table=-1',
      `--port-min=${options.portMin}`,
      `--port-max=${options.portMax}`,
      '--delete-delay=0',
      `--log-level=${options.logLevel ?? 6}`,
      `--pidfile=${pidFile}`,
      ...(options.threads === undefined ? [] : [`--num-threads=${options.threads}`]),
    ],
    { timeoutMs: options.timeoutMs, stopSignal: 'SIGTERM' },
  );
  try {
    const client = await NgClient.connect(ngPort);
    // Ready when it answers a ping (its "Startup complete" line is not logged below level 6).
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!peer.running()) throw new Error(`rtpengine exited:\n${peer.stderr()}`);
      try {
        await client.ping();
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
    let pid = Number.NaN;
    for (let i = 0; i < 50 && !Number.isInteger(pid); i++) {
      try {
        pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
      } catch {
        await sleep(20);
      }
    }
    if (!Number.isInteger(pid)) throw new Error(`rtpengine wrote no pid file ${pidFile}`);
    return {
      ngPort,
      pid,
      client,
      process: peer,
      async stop() {
        client.close();
        return peer.stop();
      },
    };
  } catch (error) {
    await peer.stop('SIGKILL');
    throw error;
  }
}

export interface RelayOptions {
  /** A: the sender. Its SDP names this port (where it would receive). */
  readonly fromPort: number;
  /** B: the receiver's RTP port; rtpengine sends there. */
  readonly toPort: number;
  readonly callId?: string;
  readonly media?: 'audio' | 'video';
  readonly payloadType?: number;
  /** e.g. "H264/90000" (default), "PCMU/8000". */
  readonly rtpmap?: string;
  /**
   * Bridge RTP (A) to SRTP (B): B answers RTP/SAVP with this suite, echoing
   * rtpengine's tag, with `answerKey` (B's own key; default random).
   */
  readonly srtp?: { readonly suite?: string; readonly answerKey?: string };
  /** Extra NG flags for the offer (e.g. { 'ICE': 'remove' }). */
  readonly offerExtra?: BencodeDict;
}

export interface OneWayRelay {
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag: string;
  /** Where A sends: rtpengine's port in the SDP it returned for A. */
  readonly ingressPort: number;
  /** rtpengine's port on B's side (B would send to it; packets to B come from it). */
  readonly egressPort: number;
  /** The SDP rtpengine produced for B (its offer). */
  readonly sdpForB: string;
  /** With `srtp`: what rtpengine encrypts towards B with. */
  readonly srtp?: { readonly suite: string; readonly tag: number; readonly key: string };
}

/** Sets up a call that relays A -> B (and B -> A, unused) through rtpengine. */
export async function setupOneWayRelay(
  client: NgClient,
  options: RelayOptions,
): Promise<OneWayRelay> {
  const callId = options.callId ?? `streammesh-${randomBytes(6).toString('hex')}`;
  const fromTag = 'a-leg';
  const toTag = 'b-leg';
  const media = options.media ?? 'video';
  const pt = options.payloadType ?? 96;
  const rtpmap = options.rtpmap ?? 'H264/90000';
  const offered = await client.offer({
    'call-id': callId,
    'from-tag': fromTag,
    sdp: sdpOf({ media, port: options.fromPort, profile: 'RTP/AVP', pt, rtpmap }),
    ...(options.srtp === undefined ? {} : { 'transport-protocol': 'RTP/SAVP' }),
    ...options.offerExtra,
  });
  const sdpForB = stringField(offered, 'sdp');
  const egressPort = mediaPort(sdpForB);

  let srtp: OneWayRelay['srtp'];
  const answerLines: string[] = [];
  if (options.srtp !== undefined) {
    const suite = options.srtp.suite ?? SRTP_SUITE;
    const crypto = parseCryptoLines(sdpForB).find((line) => line.suite === suite);
    if (crypto === undefined) {
      throw new Error(`rtpengine offered no ${suite}:\n${sdpForB}`);
    }
    srtp = { suite, tag: crypto.tag, key: crypto.key };
    answerLines.push(
      `a=crypto:${crypto.tag} ${suite} inline:${options.srtp.answerKey ?? randomSrtpKey()}`,
    );
  }
  const answered = await client.answer({
    'call-id': callId,
    'from-tag': fromTag,
    'to-tag': toTag,
    sdp: sdpOf({
      media,
      port: options.toPort,
      profile: options.srtp === undefined ? 'RTP/AVP' : 'RTP/SAVP',
      pt,
      rtpmap,
      extra: answerLines,
    }),
  });
  const ingressPort = mediaPort(stringField(answered, 'sdp'));
  return {
    callId,
    fromTag,
    toTag,
    ingressPort,
    egressPort,
    sdpForB,
    ...(srtp === undefined ? {} : { srtp }),
  };
}

export interface CryptoLine {
  readonly tag: number;
  readonly suite: string;
  /** base64 key||salt from `inline:` (lifetime and MKI dropped). */
  readonly key: string;
}

/** The a=crypto lines of an SDP (RFC 4568). */
export function parseCryptoLines(sdp: string): CryptoLine[] {
  const lines: CryptoLine[] = [];
  for (const match of sdp.matchAll(/^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)/gm)) {
    lines.push({
      tag: Number.parseInt(match[1] ?? '', 10),
      suite: match[2] ?? '',
      key: match[3] ?? '',
    });
  }
  return lines;
}

/** The port of the first m= line. */
export function mediaPort(sdp: string): number {
  const port = /^m=\w+ (\d+) /m.exec(sdp)?.[1];
  if (port === undefined) throw new Error(`no m= line in SDP:\n${sdp}`);
  return Number.parseInt(port, 10);
}

function sdpOf(options: {
  media: string;
  port: number;
  profile: string;
  pt: number;
  rtpmap: string;
  extra?: readonly string[];
}): string {
  return `${[
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 127.0.0.1`,
    's=streammesh',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=${options.media} ${options.port} ${options.profile} ${options.pt}`,
    `a=rtpmap:${options.pt} ${options.rtpmap}`,
    'a=sendrecv',
    ...(options.extra ?? []),
  ].join('\r\n')}\r\n`;
}

function stringField(reply: BencodeDict, key: string): string {
  const value: BencodeValue | undefined = reply[key];
  if (typeof value !== 'string')
    throw new Error(`rtpengine reply without ${key}: ${JSON.stringify(reply)}`);
  return value;
}
