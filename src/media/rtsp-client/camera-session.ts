/**
 * One RTSP session with a camera over one TCP connection (RFC 2326 §A.1,
 * client side): OPTIONS, DESCRIBE, SETUP of every media section, PLAY, then
 * keepalives and a media watchdog until it fails or is closed. A session is
 * never reused: the source builds a new one for each attempt.
 *
 *   establish() ──► playing ──► ended (resolves with the reason)
 *        │                          ▲
 *        └── throws the reason ─────┘ close() at any point: TEARDOWN, free all
 */
import { isIP } from 'node:net';
import {
  formatTransport,
  parseSession,
  parseTransport,
  type RtspResponse,
  type TransportSpec,
} from '../../protocol/rtsp/index.js';
import { attributes, parseSdp, type Sdp } from '../../protocol/sdp/index.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { PortsExhaustedError, type PortAllocator } from '../udp/index.js';
import { describeTracks, type SourceDescription } from '../source/index.js';
import {
  CameraClosedError,
  CameraError,
  CameraProtocolError,
  CameraStalledError,
  CameraStatusError,
  CameraUdpUnusableError,
} from './camera-errors.js';
import {
  DEFAULT_SESSION_TIMEOUT_S,
  TEARDOWN_TIMEOUT_MS,
  type CameraTiming,
} from './camera-timing.js';
import { contentBase, resolveControl, type CameraAddress } from './camera-url.js';
import { RtspClientConnection } from './rtsp-client-connection.js';
import { normalizeAddress, UdpTrackReceiver } from './udp-receiver.js';

/** RFC 2326 §11.1 status 461 Unsupported Transport. */
const UNSUPPORTED_TRANSPORT = 461;
/** Keepalive interval bounds: a camera's `timeout=0` or `timeout=999999999` must not break the timer. */
const MIN_KEEPALIVE_MS = 1000;
const MAX_KEEPALIVE_MS = 5 * 60_000;

export interface CameraSessionSink {
  rtp(track: number, packet: Buffer): void;
  rtcp(track: number, packet: Buffer): void;
}

export interface CameraSessionOptions {
  readonly address: CameraAddress;
  readonly transport: 'udp' | 'tcp';
  /**
   * Transport 'auto' trying UDP: a 461 to SETUP, or no RTP within
   * udpFallbackMs of PLAY, is a CameraUdpUnusableError (the source then
   * redoes the session over TCP) rather than an ordinary failure.
   */
  readonly probingUdp: boolean;
  readonly mediaHost: string;
  readonly ports: PortAllocator;
  readonly timing: CameraTiming;
  readonly log: Logger;
  readonly sink: CameraSessionSink;
}

/** Any failure as a CameraError (port exhaustion, a serializer refusing camera-fed text, ...). */
export function asCameraError(error: unknown): CameraError {
  return error instanceof CameraError
    ? error
    : new CameraError('ERR_CAMERA_LOCAL', errorMessage(error));
}

function isSuccess(response: RtspResponse): boolean {
  return response.status >= 200 && response.status < 300;
}

export class CameraSession {
  readonly #options: CameraSessionOptions;
  readonly #connection: RtspClientConnection;
  readonly #receivers: UdpTrackReceiver[] = [];
  /** Interleaved channel -> where its frames go (RFC 2326 §10.12). */
  readonly #channels = new Map<number, { track: number; rtcp: boolean }>();
  readonly #ended: Promise<CameraError>;
  #resolveEnded: (error: CameraError) => void = () => undefined;
  #failure: CameraError | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #playing = false;
  #sessionId: string | undefined;
  #aggregateUrl: string;
  #keepaliveMethod: 'GET_PARAMETER' | 'OPTIONS' = 'GET_PARAMETER';
  #keepaliveIntervalMs = (DEFAULT_SESSION_TIMEOUT_S * 1000) / 2;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #keepaliveInFlight = false;
  #watchdogTimer: NodeJS.Timeout | undefined;
  #rtpPackets = 0;
  #foreignPackets = 0;
  #description: SourceDescription | undefined;

  constructor(options: CameraSessionOptions) {
    this.#options = options;
    this.#aggregateUrl = options.address.url;
    this.#ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
    this.#connection = new RtspClientConnection({
      host: options.address.host,
      port: options.address.port,
      credentials: options.address.credentials,
      timeoutMs: options.timing.connectTimeoutMs,
      log: options.log,
      onInterleaved: (channel, payload) => {
        this.#onInterleaved(channel, payload);
      },
      onClose: (error) => {
        this.#fail(error);
      },
    });
  }

  /** Resolves with the reason once the session has failed; never rejects. */
  get ended(): Promise<CameraError> {
    return this.#ended;
  }

  /** The camera's description, known after DESCRIBE. */
  get description(): SourceDescription | undefined {
    return this.#description;
  }

  get transport(): 'udp' | 'tcp' {
    return this.#options.transport;
  }

  /** RTP packets delivered since PLAY. */
  get rtpPackets(): number {
    return this.#rtpPackets;
  }

  /** UDP datagrams dropped because they came from another address than the camera's. */
  get foreignPackets(): number {
    return this.#foreignPackets;
  }

  /**
   * Runs the session up to a successful PLAY and returns the camera's
   * description. Throws a CameraError; the caller then close()s the session.
   */
  async establish(): Promise<SourceDescription> {
    try {
      return await this.#establish();
    } catch (error) {
      // A failure reported by the connection or the watchdog explains more
      // than the "connection closed" its side effect gave the request.
      const reason = this.#failure ?? asCameraError(error);
      // The connection may still be up (a 4xx, a 461): close() can TEARDOWN.
      this.#fail(reason, true);
      throw reason;
    }
  }

  /**
   * Tears the session down (TEARDOWN when there is one and the connection
   * is alive, bounded by TEARDOWN_TIMEOUT_MS), then closes the connection,
   * the UDP sockets and every timer. Never rejects; idempotent.
   */
  async close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#playing = false;
    this.#stopTimers();
    this.#releaseMedia();
    const sessionId = this.#sessionId;
    if (sessionId !== undefined && !this.#connection.closed) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, TEARDOWN_TIMEOUT_MS);
      });
      const teardown = this.#connection
        .request('TEARDOWN', this.#aggregateUrl, { Session: sessionId })
        .then(
          () => undefined,
          () => undefined,
        );
      await Promise.race([teardown, bound]);
      clearTimeout(timer);
    }
    this.#connection.close();
    this.#fail(new CameraClosedError('the session was closed'));
  }

  async #establish(): Promise<SourceDescription> {
    const { log } = this.#options;
    await this.#connection.connect();
    this.#checkOpen();
    await this.#askCapabilities();
    const { sdp, base } = await this.#describe();
    this.#aggregateUrl = resolveControl(base, attributes(sdp.session, 'control')[0]);
    for (const [index, media] of sdp.media.entries()) {
      await this.#setup(index, resolveControl(base, attributes(media.lines, 'control')[0]));
    }
    const sessionId = this.#sessionId;
    if (sessionId === undefined) throw new CameraProtocolError('camera gave no session');
    // No Range: a live camera plays from now on anyway, and a seek to npt=0
    // makes servers with shared media (GStreamer) restart the timeline of
    // every other client of the camera.
    const play = await this.#request('PLAY', this.#aggregateUrl, { Session: sessionId });
    if (!isSuccess(play)) throw new CameraStatusError('PLAY', play.status, play.reason);
    this.#playing = true;
    this.#startWatchdog();
    log.info({ transport: this.transport, tracks: sdp.media.length }, 'camera session playing');
    const description = this.#description;
    if (description === undefined) throw new CameraProtocolError('no description');
    return description;
  }

  /** OPTIONS (RFC 2326 §10.1): optional, but its Public header says whether GET_PARAMETER exists for keepalives. */
  async #askCapabilities(): Promise<void> {
    const response = await this.#request('OPTIONS', this.#options.address.url);
    if (!isSuccess(response)) return;
    const methods = response.headers.get('Public');
    if (methods !== undefined && !/\bGET_PARAMETER\b/i.test(methods)) {
      this.#keepaliveMethod = 'OPTIONS';
    }
  }

  async #describe(): Promise<{ sdp: Sdp; base: string }> {
    const url = this.#options.address.url;
    const response = await this.#request('DESCRIBE', url, { Accept: 'application/sdp' });
    if (!isSuccess(response)) {
      throw new CameraStatusError('DESCRIBE', response.status, response.reason);
    }
    const parsed = parseSdp(response.body.toString('utf8'));
    if (!parsed.ok) throw new CameraProtocolError(`camera sent an invalid SDP (${parsed.reason})`);
    if (parsed.sdp.media.length === 0) throw new CameraProtocolError('camera SDP has no media');
    this.#description = { sdp: parsed.sdp, tracks: describeTracks(parsed.sdp) };
    return { sdp: parsed.sdp, base: contentBase(response, url) };
  }

  /** SETUP of one media section (RFC 2326 §10.4), over the session's transport. */
  async #setup(track: number, url: string): Promise<void> {
    const { transport, probingUdp } = this.#options;
    let receiver: UdpTrackReceiver | undefined;
    let offer: TransportSpec;
    if (transport === 'udp') {
      try {
        receiver = await UdpTrackReceiver.open(
          this.#options.ports,
          this.#options.mediaHost,
          this.#options.log,
        );
      } catch (error) {
        // 'auto' still has TCP-interleaved, which needs no port.
        if (probingUdp && error instanceof PortsExhaustedError) {
          throw new CameraUdpUnusableError('no free RTP port pair');
        }
        throw error;
      }
      this.#receivers.push(receiver);
      this.#checkOpen();
      offer = {
        protocol: 'RTP/AVP',
        delivery: 'unicast',
        clientPort: [receiver.port, receiver.port + 1],
      };
    } else {
      offer = {
        protocol: 'RTP/AVP/TCP',
        delivery: 'unicast',
        interleaved: [2 * track, 2 * track + 1],
      };
    }
    const headers: Record<string, string> = { Transport: formatTransport(offer) };
    if (this.#sessionId !== undefined) headers.Session = this.#sessionId;
    const response = await this.#request('SETUP', url, headers);
    if (response.status === UNSUPPORTED_TRANSPORT && probingUdp) {
      throw new CameraUdpUnusableError('SETUP answered 461 Unsupported Transport');
    }
    if (!isSuccess(response))
      throw new CameraStatusError('SETUP', response.status, response.reason);
    this.#takeSession(response);
    const answer = this.#answeredTransport(response, offer);
    if (receiver === undefined) {
      this.#mapChannels(track, answer.interleaved ?? offer.interleaved ?? [0, 1]);
      return;
    }
    receiver.listen(this.#mediaSources(answer), {
      rtp: (packet) => {
        this.#deliverRtp(track, packet);
      },
      rtcp: (packet) => {
        this.#deliverRtcp(track, packet);
      },
      foreign: () => {
        this.#foreignPackets += 1;
      },
    });
  }

  /** The first SETUP answer names the session (RFC 2326 §12.37); later ones repeat it. */
  #takeSession(response: RtspResponse): void {
    if (this.#sessionId !== undefined) return;
    const value = response.headers.get('Session');
    const session = value === undefined ? undefined : parseSession(value);
    if (session === undefined) {
      throw new CameraProtocolError('camera answered SETUP without a valid Session header');
    }
    this.#sessionId = session.id;
    const timeoutMs = (session.timeoutSeconds ?? DEFAULT_SESSION_TIMEOUT_S) * 1000;
    // RFC 2326 §12.37: the client must refresh the session before it times
    // out; every half timeout leaves room for one lost keepalive.
    this.#keepaliveIntervalMs = Math.min(
      MAX_KEEPALIVE_MS,
      Math.max(MIN_KEEPALIVE_MS, timeoutMs / 2),
    );
  }

  /** The Transport the camera chose; it must be the lower transport we offered. */
  #answeredTransport(response: RtspResponse, offer: TransportSpec): TransportSpec {
    const value = response.headers.get('Transport');
    // Some cameras omit Transport when they accept the offer as it is.
    if (value === undefined) return offer;
    const answer = parseTransport(value)?.[0];
    if (answer === undefined)
      throw new CameraProtocolError('camera answered SETUP with a bad Transport');
    const tcp = answer.protocol.toUpperCase().endsWith('/TCP');
    const wanted = this.#options.transport === 'tcp';
    if (tcp !== wanted || answer.delivery === 'multicast') {
      const why = `camera answered a ${this.transport.toUpperCase()} SETUP with ${value.slice(0, 120)}`;
      if (this.#options.probingUdp) throw new CameraUdpUnusableError(why);
      throw new CameraProtocolError(why);
    }
    return answer;
  }

  #mapChannels(track: number, [rtp, rtcp]: [number, number]): void {
    if (this.#channels.has(rtp) || this.#channels.has(rtcp)) {
      throw new CameraProtocolError(`camera gave interleaved channel ${rtp} to two tracks`);
    }
    this.#channels.set(rtp, { track, rtcp: false });
    if (rtcp !== rtp) this.#channels.set(rtcp, { track, rtcp: true });
  }

  /**
   * Where this track's datagrams may come from: the address we reached the
   * camera at, and a `source` it names in Transport (RFC 2326 §12.39) when
   * its media leaves from another interface.
   */
  #mediaSources(answer: TransportSpec): Set<string> {
    const sources = new Set<string>();
    const remote = this.#connection.remoteAddress;
    if (remote !== undefined) sources.add(normalizeAddress(remote));
    if (answer.source !== undefined && isIP(answer.source) !== 0) {
      sources.add(normalizeAddress(answer.source));
    }
    return sources;
  }

  #onInterleaved(channel: number, payload: Buffer): void {
    const target = this.#channels.get(channel);
    if (target === undefined) {
      this.#fail(
        new CameraProtocolError(`camera sent interleaved data on unused channel ${channel}`),
      );
      return;
    }
    if (target.rtcp) this.#deliverRtcp(target.track, payload);
    else this.#deliverRtp(target.track, payload);
  }

  #deliverRtp(track: number, packet: Buffer): void {
    // Media before PLAY's answer (or after close) has no listener yet.
    if (!this.#playing) return;
    this.#rtpPackets += 1;
    this.#options.sink.rtp(track, packet);
  }

  #deliverRtcp(track: number, packet: Buffer): void {
    if (!this.#playing) return;
    this.#options.sink.rtcp(track, packet);
  }

  /** A request whose failure fails the session, checked against close() afterwards. */
  async #request(
    method: string,
    url: string,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<RtspResponse> {
    this.#checkOpen();
    const response = await this.#connection.request(method, url, headers);
    this.#checkOpen();
    return response;
  }

  #checkOpen(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new CameraClosedError('the session was closed');
  }

  /**
   * Two clocks while playing: the keepalive (RFC 2326 §12.37) and the media
   * watchdog. The watchdog samples a packet counter every few hundred ms
   * instead of re-arming a timer per packet.
   */
  #startWatchdog(): void {
    const { noMediaTimeoutMs, udpFallbackMs } = this.#options.timing;
    const probing = this.#options.probingUdp;
    // Sampling at a fifth of the shortest limit detects a stall at most 20% late.
    const shortest = probing ? Math.min(udpFallbackMs, noMediaTimeoutMs) : noMediaTimeoutMs;
    const tick = Math.min(250, Math.max(20, shortest / 5));
    let seen = 0;
    let progressAt = Date.now();
    this.#watchdogTimer = setInterval(() => {
      const now = Date.now();
      if (this.#rtpPackets !== seen) {
        seen = this.#rtpPackets;
        progressAt = now;
        return;
      }
      if (probing && seen === 0) {
        if (now - progressAt >= udpFallbackMs) {
          this.#fail(
            new CameraUdpUnusableError(`no RTP over UDP within ${udpFallbackMs} ms of PLAY`),
            true,
          );
        }
      } else if (now - progressAt >= noMediaTimeoutMs) {
        this.#fail(new CameraStalledError(noMediaTimeoutMs), true);
      }
    }, tick);
    this.#keepaliveTimer = setInterval(() => {
      this.#keepalive();
    }, this.#keepaliveIntervalMs);
  }

  /**
   * GET_PARAMETER with no body is the RFC 2326 §10.8 ping; cameras that do
   * not implement it (405, 501, or 451 for the empty parameter list) get
   * OPTIONS, which many servers also accept as a liveness sign.
   */
  #keepalive(): void {
    const sessionId = this.#sessionId;
    // One keepalive at a time: a slow camera must not pile them up.
    if (sessionId === undefined || this.#closed || this.#keepaliveInFlight) return;
    const method = this.#keepaliveMethod;
    this.#keepaliveInFlight = true;
    this.#connection.request(method, this.#aggregateUrl, { Session: sessionId }).then(
      (response) => {
        this.#keepaliveInFlight = false;
        if (isSuccess(response) || this.#closed) return;
        if (method === 'GET_PARAMETER' && [405, 451, 501].includes(response.status)) {
          this.#keepaliveMethod = 'OPTIONS';
          this.#keepalive();
          return;
        }
        this.#fail(new CameraStatusError(method, response.status, response.reason), true);
      },
      (error: unknown) => {
        this.#keepaliveInFlight = false;
        if (!this.#closed) this.#fail(asCameraError(error), true);
      },
    );
  }

  #stopTimers(): void {
    clearInterval(this.#watchdogTimer);
    clearInterval(this.#keepaliveTimer);
    this.#watchdogTimer = undefined;
    this.#keepaliveTimer = undefined;
  }

  #releaseMedia(): void {
    for (const receiver of this.#receivers) receiver.close();
    this.#channels.clear();
  }

  /**
   * Records the first failure, stops media and timers, and ends the
   * session. `keepConnection`: the camera is still talking to us (a stall, an
   * error status), so the connection stays for close() to send TEARDOWN;
   * otherwise (broken bytes, a dead connection) it is closed at once, which
   * also rejects a request in flight.
   */
  #fail(error: CameraError, keepConnection = false): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#playing = false;
    this.#stopTimers();
    this.#releaseMedia();
    if (!keepConnection) this.#connection.close();
    this.#resolveEnded(error);
  }
}
