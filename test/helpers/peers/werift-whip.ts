/**
 * werift as a WHIP publisher and a WHEP viewer (RFC 9725 clients): one
 * non-trickle offer POSTed as application/sdp, the answer applied, the
 * session resource from the Location header for PATCH and DELETE.
 *
 * The publisher sends one video track: a GStreamer test pattern encoded to
 * VP8 or H.264 RTP on a local UDP port (startVideoSource), written into
 * werift, which rewrites SSRC and payload type to the negotiated ones. The
 * viewer counts the RTP packets, bytes and key-frame starts it receives per
 * kind. Every wait is bounded, and close() stops GStreamer, the socket and
 * the PeerConnection (and DELETEs the session unless told not to).
 */
import { request as httpRequest } from 'node:http';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import type { PeerProcess } from './process.js';
import {
  RtpFanIn,
  startVideoSource,
  waitConnected,
  startsKeyframe,
  type VideoCodecName,
} from './werift-signaling.js';

/** Bound on one HTTP request to the signaling node. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bound on ICE + DTLS over loopback (~0.5 s when idle). */
const CONNECT_TIMEOUT_MS = 10_000;

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/**
 * One request with a text body, bounded in time; the answer's body as text.
 * With `localAddress` the request leaves from that address (127.0.0.2, say:
 * another client than 127.0.0.1 to a per-source budget), over node:http
 * since fetch cannot bind its source.
 */
export async function request(
  url: string,
  method: string,
  body?: string,
  headers: Readonly<Record<string, string>> = {},
  localAddress?: string,
): Promise<HttpAnswer> {
  if (localAddress !== undefined) return requestFrom(localAddress, url, method, body, headers);
  const response = await fetch(url, {
    method,
    headers,
    // A redirect is the caller's to see (a 307 of a WHIP/WHEP door) and follow.
    redirect: 'manual',
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

async function requestFrom(
  localAddress: string,
  url: string,
  method: string,
  body: string | undefined,
  headers: Readonly<Record<string, string>>,
): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const outgoing = httpRequest(
      url,
      { method, headers, localAddress, agent: false, timeout: REQUEST_TIMEOUT_MS },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const answerHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            for (const one of Array.isArray(value) ? value : [value ?? '']) {
              answerHeaders.append(name, one);
            }
          }
          resolve({
            status: response.statusCode ?? 0,
            headers: answerHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    outgoing.on('timeout', () => {
      outgoing.destroy(new Error(`${method} ${url}: no answer in ${REQUEST_TIMEOUT_MS} ms`));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

export async function postSdp(
  url: string,
  sdp: string,
  localAddress?: string,
): Promise<HttpAnswer> {
  return request(url, 'POST', sdp, { 'content-type': 'application/sdp' }, localAddress);
}

const FEEDBACK = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
];

/** Payload types unlike the SFU Router's own, so its consumers must use the viewer's. */
const CODECS = {
  audio: () => [
    new RTCRtpCodecParameters({
      mimeType: 'audio/opus',
      clockRate: 48_000,
      channels: 2,
      payloadType: 109,
    }),
  ],
  video: (names: readonly VideoCodecName[]) =>
    names.map((name) =>
      name === 'VP8'
        ? new RTCRtpCodecParameters({
            mimeType: 'video/VP8',
            clockRate: 90_000,
            payloadType: 120,
            rtcpFeedback: FEEDBACK,
          })
        : new RTCRtpCodecParameters({
            mimeType: 'video/H264',
            clockRate: 90_000,
            payloadType: 122,
            rtcpFeedback: FEEDBACK,
            parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
          }),
    ),
};

function peerConnection(video: readonly VideoCodecName[]): RTCPeerConnection {
  // max-bundle: with werift's default each m-section gathers its own sockets,
  // and those of sections bundled away stay open after close().
  return new RTCPeerConnection({
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    bundlePolicy: 'max-bundle',
    codecs: { audio: CODECS.audio(), video: CODECS.video(video) },
  });
}

/** The local description once every candidate is in it (WHIP without trickle). */
async function gatheredOffer(pc: RTCPeerConnection): Promise<string> {
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await pc.iceGatheringStateChange.watch((state) => state === 'complete', CONNECT_TIMEOUT_MS);
  }
  const sdp = pc.localDescription?.sdp;
  if (sdp === undefined) throw new Error('werift has no local description');
  return sdp;
}

/** Redirects of one POST followed at most (307/308, RFC 9725). */
const MAX_REDIRECTS = 3;

/** What a POST of an offer gave: the session resource, the answer, its ETag. */
interface Negotiated {
  readonly location: string;
  /** The URLs a 307/308 sent the offer to, in order (empty: none). */
  readonly redirects: readonly string[];
  readonly answer: string;
  readonly etag: string;
  readonly localAddress?: string;
}

/** A WHIP or WHEP session as the client holds it. */
export class WhipWhepClient {
  readonly pc: RTCPeerConnection;
  /** The session resource (absolute). */
  readonly location: string;
  /** The URLs a 307/308 sent the offer to before it was answered, in order. */
  readonly redirects: readonly string[];
  readonly answer: string;
  etag: string;
  /** Where this client's requests leave from (undefined: the default). */
  readonly localAddress: string | undefined;
  #closed = false;

  protected constructor(pc: RTCPeerConnection, negotiated: Negotiated) {
    this.pc = pc;
    this.location = negotiated.location;
    this.redirects = negotiated.redirects;
    this.answer = negotiated.answer;
    this.etag = negotiated.etag;
    this.localAddress = negotiated.localAddress;
  }

  /**
   * POSTs the offer of `pc`, following a 307/308 (the same offer to its
   * Location, resolved against the URL that answered it; at most
   * MAX_REDIRECTS), applies the answer; throws with the status and reason
   * on a refusal.
   */
  protected static async negotiate(
    url: string,
    pc: RTCPeerConnection,
    localAddress?: string,
  ): Promise<Negotiated> {
    const offer = await gatheredOffer(pc);
    let target = url;
    const redirects: string[] = [];
    let reply = await postSdp(target, offer, localAddress);
    while (reply.status === 307 || reply.status === 308) {
      const next = reply.headers.get('location');
      if (next === null) throw new Error(`POST ${target}: ${reply.status} without a Location`);
      if (redirects.length === MAX_REDIRECTS) {
        throw new Error(`POST ${url}: more than ${MAX_REDIRECTS} redirects`);
      }
      target = new URL(next, target).toString();
      redirects.push(target);
      reply = await postSdp(target, offer, localAddress);
    }
    if (reply.status !== 201) {
      throw new Error(`POST ${target}: ${reply.status} ${reply.body.trim()}`);
    }
    const location = reply.headers.get('location');
    if (location === null) throw new Error(`POST ${target}: 201 without a Location`);
    await pc.setRemoteDescription({ type: 'answer', sdp: reply.body });
    return {
      location: new URL(location, target).toString(),
      redirects,
      answer: reply.body,
      etag: reply.headers.get('etag') ?? '',
      ...(localAddress === undefined ? {} : { localAddress }),
    };
  }

  async connected(timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
    await waitConnected(this.pc, timeoutMs);
  }

  async patch(fragment: string, ifMatch = this.etag): Promise<HttpAnswer> {
    return request(
      this.location,
      'PATCH',
      fragment,
      { 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': ifMatch },
      this.localAddress,
    );
  }

  /**
   * An ICE restart the RFC 9725 way: new local credentials PATCHed as an
   * sdpfrag, the SFU's new ones (200) applied as a new remote answer.
   */
  async restartIce(): Promise<HttpAnswer> {
    this.pc.restartIce();
    const offer = await gatheredOffer(this.pc);
    const fragment = offer
      .split(/\r?\n/)
      .filter((line) => /^(a=ice-(ufrag|pwd)|a=mid|m=|a=candidate|a=end-of-candidates)/.test(line))
      .join('\r\n');
    const reply = await this.patch(`${fragment}\r\n`, '*');
    if (reply.status !== 200) return reply;
    const ufrag = /a=ice-ufrag:(\S+)/.exec(reply.body)?.[1];
    const pwd = /a=ice-pwd:(\S+)/.exec(reply.body)?.[1];
    if (ufrag === undefined || pwd === undefined) {
      throw new Error(`ICE restart answer without credentials:\n${reply.body}`);
    }
    this.etag = reply.headers.get('etag') ?? this.etag;
    const answer = this.answer
      .replace(/a=ice-ufrag:\S+/g, `a=ice-ufrag:${ufrag}`)
      .replace(/a=ice-pwd:\S+/g, `a=ice-pwd:${pwd}`);
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return reply;
  }

  /** DELETEs the session (unless `remove` is false) and closes the PeerConnection. */
  async close(remove = true): Promise<HttpAnswer | undefined> {
    if (this.#closed) return undefined;
    this.#closed = true;
    const reply = remove
      ? await request(this.location, 'DELETE', undefined, {}, this.localAddress).catch(
          () => undefined,
        )
      : undefined;
    await this.pc.close();
    return reply;
  }
}

export interface WhipPublisherOptions {
  readonly codec?: VideoCodecName;
  /** Bound on the video source's life. */
  readonly timeoutMs?: number;
  /** Where the WHIP requests leave from (default: the system's choice, 127.0.0.1). */
  readonly localAddress?: string;
}

/** A werift WHIP publisher of one video track. */
export class WhipPublisher extends WhipWhepClient {
  readonly #source: PeerProcess;
  readonly #input: RtpFanIn;
  /** RTP packets written into werift while connected. */
  sent = 0;

  private constructor(
    negotiated: Negotiated,
    pc: RTCPeerConnection,
    source: PeerProcess,
    input: RtpFanIn,
  ) {
    super(pc, negotiated);
    this.#source = source;
    this.#input = input;
  }

  static async publish(url: string, options: WhipPublisherOptions = {}): Promise<WhipPublisher> {
    const codec = options.codec ?? 'VP8';
    const pc = peerConnection([codec]);
    const track = new MediaStreamTrack({ kind: 'video' });
    pc.addTransceiver(track, { direction: 'sendonly' });
    const input = await RtpFanIn.bind();
    let source: PeerProcess | undefined;
    try {
      const negotiated = await WhipWhepClient.negotiate(url, pc, options.localAddress);
      source = startVideoSource({
        codec,
        ports: [input.port],
        timeoutMs: options.timeoutMs ?? 60_000,
      });
      const publisher = new WhipPublisher(negotiated, pc, source, input);
      input.add((packet) => {
        if (pc.connectionState !== 'connected') return;
        track.writeRtp(packet);
        publisher.sent += 1;
      });
      return publisher;
    } catch (error) {
      input.close();
      await source?.stop();
      await pc.close();
      throw error;
    }
  }

  override async close(remove = true): Promise<HttpAnswer | undefined> {
    this.#input.close();
    await this.#source.stop();
    return super.close(remove);
  }
}

/** What a viewer got of one kind. */
export interface KindReception {
  packets: number;
  bytes: number;
  /** Packets that start a key frame (video). */
  keyframes: number;
  /** The codec the track was received with ('' before any packet). */
  mimeType: string;
}

export interface Reception {
  readonly audio: KindReception;
  readonly video: KindReception;
}

export interface WhepViewerOptions {
  readonly audio?: boolean;
  readonly video?: readonly VideoCodecName[];
  /** Where the WHEP requests leave from (default: the system's choice, 127.0.0.1). */
  readonly localAddress?: string;
}

/** A werift WHEP viewer: recvonly audio and video, counting what arrives. */
export class WhepViewer extends WhipWhepClient {
  readonly received: Reception;

  private constructor(negotiated: Negotiated, pc: RTCPeerConnection, received: Reception) {
    super(pc, negotiated);
    this.received = received;
  }

  static async watch(url: string, options: WhepViewerOptions = {}): Promise<WhepViewer> {
    const pc = peerConnection(options.video ?? ['VP8', 'H264']);
    if (options.audio !== false) pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    const received: Reception = {
      audio: { packets: 0, bytes: 0, keyframes: 0, mimeType: '' },
      video: { packets: 0, bytes: 0, keyframes: 0, mimeType: '' },
    };
    pc.onTrack.subscribe((track) => {
      if (track.kind !== 'audio' && track.kind !== 'video') return;
      const counts = received[track.kind];
      track.onReceiveRtp.subscribe((packet) => {
        counts.packets += 1;
        counts.bytes += packet.payload.length;
        const mimeType = track.codec?.mimeType ?? '';
        counts.mimeType = mimeType;
        const name = mimeType.toLowerCase() === 'video/h264' ? 'H264' : 'VP8';
        if (track.kind === 'video' && startsKeyframe(name, packet.payload)) counts.keyframes += 1;
      });
    });
    try {
      return new WhepViewer(
        await WhipWhepClient.negotiate(url, pc, options.localAddress),
        pc,
        received,
      );
    } catch (error) {
      await pc.close();
      throw error;
    }
  }

  /** Waits (bounded) until `done` holds for what was received; returns it. */
  async waitFor(
    done: (received: Reception) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<Reception> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.received)) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(this.received)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return this.received;
  }
}
