/**
 * A light RTSP viewer: DESCRIBE, SETUP of the first track (UDP client ports
 * or TCP-interleaved channels 0-1), PLAY, a GET_PARAMETER keepalive, and per
 * packet only a sequence-number count (sequence.ts): no depacketizing, no
 * decoding, so hundreds fit in one process.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  parseSession,
  parseTransport,
  RtspHeaders,
  RtspStreamParser,
  serializeRequest,
  type RtspResponse,
} from '../../src/protocol/rtsp/index.js';
import { attributes, parseSdp } from '../../src/protocol/sdp/index.js';
import type { ViewerTransport } from './messages.js';
import { SequenceCounter } from './sequence.js';

export interface ViewerOptions {
  readonly url: string;
  readonly transport: ViewerTransport;
  readonly keepaliveMs: number;
  readonly timeoutMs: number;
  /** Counts what is not RTP of the track (stray datagrams, other channels). */
  readonly onForeign: () => void;
  readonly onRtcp: () => void;
}

/** Receive buffer of a UDP viewer's RTP socket: ~1 s of a 1 Mbit/s stream many times over. */
const UDP_RECV_BUFFER = 1024 * 1024;

export class ViewerError extends Error {
  override readonly name = 'ViewerError';
}

export class LightViewer {
  readonly counter = new SequenceCounter();
  readonly #options: ViewerOptions;
  readonly #socket: Socket;
  readonly #parser = new RtspStreamParser({ maxBodyBytes: 1 << 20 });
  readonly #waiters: ((response: RtspResponse | undefined) => void)[] = [];
  #udp: UdpSocket[] = [];
  #cseq = 0;
  #session: string | undefined;
  #aggregateUrl: string;
  #keepalive: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: ViewerOptions, socket: Socket) {
    this.#options = options;
    this.#socket = socket;
    this.#aggregateUrl = options.url;
    socket.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closeLocal();
    });
  }

  /** Connects and plays; rejects (and cleans up) when any step fails or takes too long. */
  static async open(options: ViewerOptions): Promise<LightViewer> {
    const url = new URL(options.url);
    const socket = connect({ host: url.hostname, port: Number(url.port || 554) });
    socket.setNoDelay(true);
    const viewer = new LightViewer(options, socket);
    const state = { timedOut: false };
    const timer = setTimeout(() => {
      state.timedOut = true;
      viewer.close();
    }, options.timeoutMs);
    try {
      await Promise.race([
        once(socket, 'connect'),
        once(socket, 'close').then(() => {
          throw new ViewerError('connection refused or closed');
        }),
      ]);
      await viewer.#play();
      if (viewer.#closed) throw new ViewerError('connection closed after PLAY');
      return viewer;
    } catch (error) {
      viewer.close();
      const reason = error instanceof Error ? error.message : String(error);
      throw new ViewerError(
        state.timedOut ? `timed out after ${options.timeoutMs} ms (${reason})` : reason,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  get alive(): boolean {
    return !this.#closed;
  }

  /** TEARDOWN (answer awaited up to `timeoutMs`), then closes everything. */
  async teardown(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    if (this.#session !== undefined) {
      const timer = setTimeout(() => {
        this.close();
      }, timeoutMs);
      try {
        await this.#request('TEARDOWN', this.#aggregateUrl, { Session: this.#session });
      } catch {
        // closed already: nothing left to tear down
      } finally {
        clearTimeout(timer);
      }
    }
    this.close();
  }

  close(): void {
    this.#socket.destroy();
    this.#closeLocal();
  }

  async #play(): Promise<void> {
    const describe = await this.#request('DESCRIBE', this.#options.url, {
      Accept: 'application/sdp',
    });
    const sdp = parseSdp(describe.body.toString('utf8'));
    if (!sdp.ok) throw new ViewerError(`DESCRIBE: bad SDP (${sdp.reason})`);
    const base = describe.headers.get('Content-Base') ?? this.#options.url;
    const media = sdp.sdp.media[0];
    if (media === undefined) throw new ViewerError('DESCRIBE: no media in the SDP');
    const sessionControl = attributes(sdp.sdp.session, 'control')[0];
    if (sessionControl !== undefined && sessionControl !== '*') {
      this.#aggregateUrl = resolveControl(base, sessionControl);
    }
    const trackUrl = resolveControl(base, attributes(media.lines, 'control')[0] ?? '');

    let transport: string;
    if (this.#options.transport === 'udp') {
      const [rtp, rtcp] = await Promise.all([this.#bindUdp(true), this.#bindUdp(false)]);
      transport = `RTP/AVP;unicast;client_port=${rtp}-${rtcp}`;
    } else {
      transport = 'RTP/AVP/TCP;unicast;interleaved=0-1';
    }
    const setup = await this.#request('SETUP', trackUrl, { Transport: transport });
    const session = parseSession(setup.headers.get('Session') ?? '');
    if (session === undefined) throw new ViewerError('SETUP: no Session header');
    this.#session = session.id;
    const answered = parseTransport(setup.headers.get('Transport') ?? '')?.[0];
    if (this.#options.transport === 'tcp') {
      const channel = answered?.interleaved?.[0];
      if (channel !== undefined && channel !== 0) {
        throw new ViewerError(`SETUP: server chose interleaved channel ${channel}, not 0`);
      }
    } else if (answered?.protocol.toUpperCase().includes('TCP') === true) {
      throw new ViewerError('SETUP: asked for UDP, the server answered TCP');
    }
    // No Range: GStreamer seeks a shared media to the requested position, for every client.
    await this.#request('PLAY', this.#aggregateUrl, { Session: session.id });
    this.#keepalive = setInterval(() => {
      if (this.#session === undefined) return;
      this.#request('GET_PARAMETER', this.#aggregateUrl, { Session: this.#session }).catch(
        () => undefined,
      );
    }, this.#options.keepaliveMs);
    this.#keepalive.unref();
  }

  /** Binds a UDP socket on an ephemeral port of 127.0.0.1; RTP (`media`) is counted. */
  async #bindUdp(media: boolean): Promise<number> {
    const socket = createSocket('udp4');
    this.#udp.push(socket);
    socket.on('error', () => undefined);
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    if (media) {
      try {
        socket.setRecvBufferSize(UDP_RECV_BUFFER);
      } catch {
        // capped by net.core.rmem_max
      }
      socket.on('message', (packet: Buffer) => {
        this.#onRtp(packet);
      });
    } else {
      socket.on('message', () => {
        this.#options.onRtcp();
      });
    }
    return socket.address().port;
  }

  #onRtp(packet: Buffer): void {
    if (packet.length < 12 || packet[0] === undefined || packet[0] >> 6 !== 2) {
      this.#options.onForeign();
      return;
    }
    this.counter.record(
      packet.readUInt16BE(2),
      packet.readUInt32BE(4),
      packet.length,
      performance.timeOrigin + performance.now(),
    );
  }

  #onData(chunk: Buffer): void {
    for (const event of this.#parser.push(chunk)) {
      switch (event.type) {
        case 'interleaved':
          if (event.channel === 0) this.#onRtp(event.payload);
          else if (event.channel === 1) this.#options.onRtcp();
          else this.#options.onForeign();
          break;
        case 'response':
          this.#waiters.shift()?.(event.response);
          break;
        case 'request':
          // A server request (e.g. a keepalive of its own): nothing to answer for a benchmark.
          break;
        case 'error':
          this.close();
          return;
      }
    }
  }

  /** Sends a request and resolves with a 2xx answer; rejects on any other status or a close. */
  #request(method: string, url: string, headers: Record<string, string>): Promise<RtspResponse> {
    if (this.#closed) return Promise.reject(new ViewerError(`${method}: connection closed`));
    const all = new RtspHeaders([
      ['CSeq', String(++this.#cseq)],
      ['User-Agent', 'streammesh-bench'],
      ...Object.entries(headers),
    ]);
    const answer = new Promise<RtspResponse>((resolve, reject) => {
      this.#waiters.push((response) => {
        if (response === undefined) reject(new ViewerError(`${method}: connection closed`));
        else if (response.status < 200 || response.status > 299) {
          reject(new ViewerError(`${method}: ${response.status} ${response.reason}`));
        } else resolve(response);
      });
    });
    this.#socket.write(
      serializeRequest({ method, url, version: 'RTSP/1.0', headers: all, body: EMPTY }),
    );
    return answer;
  }

  #closeLocal(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    for (const socket of this.#udp) {
      try {
        socket.close();
      } catch {
        // not bound yet or closed
      }
    }
    this.#udp = [];
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }
}

const EMPTY = Buffer.alloc(0);

/** A media section's control URL against the DESCRIBE's base (RFC 2326 C.1.1). */
export function resolveControl(base: string, control: string): string {
  if (control === '' || control === '*') return base;
  if (/^rtsp:\/\//i.test(control)) return control;
  return `${base.endsWith('/') ? base : `${base}/`}${control}`;
}
