/**
 * werift peers of the SFU, the way a WebRTC client of the WebSocket protocol
 * (signaling/PROTOCOL.md) uses it:
 *
 *   publisher    createTransport send -> local offer (one sendonly video
 *                track) -> produce(rtpParameters of the offer) ->
 *                connectTransport(the offer's DTLS) -> the SFU's answer
 *   subscriber   createTransport recv -> consume each producer -> the SFU's
 *                offer (one sendonly m-section per consumer) -> werift's
 *                answer -> connectTransport(the answer's DTLS) -> resume
 *
 * The SFU's side of each negotiation is written with signaling/sdp, the
 * module the WHIP/WHEP endpoints answer with, so these peers exercise it
 * from the client's end too. One subscriber PeerConnection carries all its
 * consumers over one recv transport; each consumer's packets are counted
 * (loss from sequence numbers, key frames from the payload).
 *
 * The SFU is reached through an SfuChannel: the WebSocket protocol here
 * (signalingChannel); the SFU benchmark adds a bare-mediasoup channel.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import type { types } from 'mediasoup';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, type RtpPacket } from 'werift';
import {
  answerSetup,
  buildAnswer,
  buildOffer,
  dtlsParametersFromSdp,
  parseWebrtcSdp,
  rtpCapabilitiesFromMedias,
  rtpParametersFromMedia,
  type SendPlan,
} from '../../../signaling/sdp/index.js';
import type { TransportParameters } from '../../../signaling/sfu/index.js';
import { SequenceCounter } from '../../../loadtests/rtsp/sequence.js';
import { h264StartsKeyframe } from '../../../src/protocol/video/index.js';
import { waitFor } from '../process.js';
import type { Frame, SignalingClient } from '../signaling-client.js';
import { requirePeer, spawnPeer, type PeerProcess } from './process.js';

/** What a consume request answers. */
export interface ConsumerParameters {
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: types.MediaKind;
  readonly rtpParameters: types.RtpParameters;
}

/** The SFU requests a werift peer makes, whatever carries them. */
export interface SfuChannel {
  routerRtpCapabilities(): Promise<types.RtpCapabilities>;
  createTransport(direction: 'send' | 'recv'): Promise<TransportParameters>;
  connectTransport(transportId: string, dtlsParameters: types.DtlsParameters): Promise<void>;
  produce(
    transportId: string,
    kind: types.MediaKind,
    rtpParameters: types.RtpParameters,
  ): Promise<string>;
  consume(
    transportId: string,
    producerId: string,
    rtpCapabilities: types.RtpCapabilities,
  ): Promise<ConsumerParameters>;
  resumeConsumer(consumerId: string): Promise<void>;
}

/** The WebSocket protocol as an SfuChannel (the client must have joined a room). */
export function signalingChannel(client: SignalingClient): SfuChannel {
  const call = async (method: string, data: object = {}): Promise<Record<string, unknown>> => {
    const frame: Frame = await client.request(method, data);
    if (frame.ok !== true) {
      throw new Error(`${method}: ${frame.error?.code ?? '?'} ${frame.error?.message ?? ''}`);
    }
    return frame.data ?? {};
  };
  return {
    async routerRtpCapabilities() {
      return await call('getRouterRtpCapabilities');
    },
    async createTransport(direction) {
      return (await call('createTransport', { direction })) as unknown as TransportParameters;
    },
    async connectTransport(transportId, dtlsParameters) {
      await call('connectTransport', { transportId, dtlsParameters });
    },
    async produce(transportId, kind, rtpParameters) {
      const data = await call('produce', { transportId, kind, rtpParameters });
      return data['producerId'] as string;
    },
    async consume(transportId, producerId, rtpCapabilities) {
      return (await call('consume', {
        transportId,
        producerId,
        rtpCapabilities,
      })) as unknown as ConsumerParameters;
    },
    async resumeConsumer(consumerId) {
      await call('resumeConsumer', { consumerId });
    },
  };
}

export type VideoCodecName = 'VP8' | 'H264';

const FEEDBACK = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
];

/** The codecs werift offers; payload types are werift's own (the SFU keeps them for producers). */
function weriftCodec(name: VideoCodecName): RTCRtpCodecParameters {
  return name === 'VP8'
    ? new RTCRtpCodecParameters({
        mimeType: 'video/VP8',
        clockRate: 90_000,
        payloadType: 96,
        rtcpFeedback: FEEDBACK,
      })
    : new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90_000,
        payloadType: 97,
        rtcpFeedback: FEEDBACK,
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      });
}

/** A werift PeerConnection offering `codecs`; only 127.0.0.1 candidates matter (the SFU is ICE-lite on it). */
export function weriftPeerConnection(codecs: readonly VideoCodecName[]): RTCPeerConnection {
  return new RTCPeerConnection({
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    codecs: { video: codecs.map(weriftCodec), audio: [] },
  });
}

/** Bound on ICE + DTLS to the SFU over loopback (~0.5 s when idle). */
const CONNECT_TIMEOUT_MS = 10_000;

/** Resolves once ICE and DTLS are up; throws when the PeerConnection fails, closes or takes too long. */
export async function waitConnected(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pc.connectionState !== 'connected') {
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
      throw new Error(`the PeerConnection is ${pc.connectionState}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`not connected within ${timeoutMs} ms (${pc.connectionState})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface PeerOptions {
  readonly codec?: VideoCodecName;
  readonly connectTimeoutMs?: number;
}

/** One sendonly video track through a send transport; RTP in through writeRtp(). */
export class WeriftPublisher {
  readonly producerId: string;
  readonly pc: RTCPeerConnection;
  readonly #track: MediaStreamTrack;

  private constructor(pc: RTCPeerConnection, track: MediaStreamTrack, producerId: string) {
    this.pc = pc;
    this.#track = track;
    this.producerId = producerId;
  }

  static async publish(channel: SfuChannel, options: PeerOptions = {}): Promise<WeriftPublisher> {
    const capabilities = await channel.routerRtpCapabilities();
    const transport = await channel.createTransport('send');
    const pc = weriftPeerConnection([options.codec ?? 'VP8']);
    try {
      const track = new MediaStreamTrack({ kind: 'video' });
      pc.addTransceiver(track, { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      const offer = parseWebrtcSdp(pc.localDescription?.sdp);
      const media = offer.medias[0];
      if (media?.mid === undefined) throw new Error('werift offered no video m-section');
      const rtpParameters = rtpParametersFromMedia(media, capabilities);
      const producerId = await channel.produce(transport.id, 'video', rtpParameters);
      const answer = buildAnswer(offer, transport, [
        { mid: media.mid, kind: 'video', direction: 'recvonly', rtpParameters },
      ]);
      // The answer says passive: werift, the offerer, is the DTLS client.
      await channel.connectTransport(
        transport.id,
        dtlsParametersFromSdp(offer, answerSetup(offer.setup)),
      );
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      await waitConnected(pc, options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
      return new WeriftPublisher(pc, track, producerId);
    } catch (error) {
      await pc.close();
      throw error;
    }
  }

  /** Sends one RTP packet (werift rewrites SSRC, payload type, sequence and timestamp offsets). */
  writeRtp(packet: Buffer): void {
    this.#track.writeRtp(packet);
  }

  async close(): Promise<void> {
    this.#track.stop();
    await this.pc.close();
  }
}

/** What one consumer delivered to a subscriber. */
export class RtpReception {
  readonly consumerId: string;
  readonly producerId: string;
  readonly ssrc: number;
  readonly counter = new SequenceCounter();
  /** Packets that start a key frame. */
  keyframes = 0;
  readonly #codec: VideoCodecName | undefined;

  constructor(consumer: ConsumerParameters) {
    this.consumerId = consumer.consumerId;
    this.producerId = consumer.producerId;
    const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
    if (ssrc === undefined) throw new Error(`consumer ${consumer.consumerId} has no SSRC`);
    this.ssrc = ssrc;
    const mime = consumer.rtpParameters.codecs[0]?.mimeType.toLowerCase();
    this.#codec = mime === 'video/vp8' ? 'VP8' : mime === 'video/h264' ? 'H264' : undefined;
  }

  record(packet: RtpPacket): void {
    const { header, payload } = packet;
    this.counter.record(header.sequenceNumber, header.timestamp, payload.length, Date.now());
    if (this.#codec !== undefined && startsKeyframe(this.#codec, payload)) this.keyframes += 1;
  }

  get received(): number {
    return this.counter.received;
  }

  get lost(): number {
    return Math.max(0, this.counter.lost);
  }
}

/**
 * One PeerConnection and one recv transport for any number of consumers;
 * each consume() renegotiates once with the SFU's offer of all of them.
 */
export class WeriftSubscriber {
  readonly pc: RTCPeerConnection;
  readonly receptions = new Map<string, RtpReception>();
  readonly #channel: SfuChannel;
  readonly #transport: TransportParameters;
  readonly #capabilities: types.RtpCapabilities;
  readonly #bySsrc = new Map<number, RtpReception>();
  readonly #plans: SendPlan[] = [];
  readonly #sessionId = String(randomInt(1, 2 ** 47));
  readonly #connectTimeoutMs: number;
  #version = 0;
  #unrouted = 0;

  private constructor(
    channel: SfuChannel,
    transport: TransportParameters,
    capabilities: types.RtpCapabilities,
    connectTimeoutMs: number,
  ) {
    this.#channel = channel;
    this.#transport = transport;
    this.#capabilities = capabilities;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.pc = weriftPeerConnection(['VP8', 'H264']);
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((packet) => {
        const reception = this.#bySsrc.get(packet.header.ssrc);
        if (reception === undefined) this.#unrouted += 1;
        else reception.record(packet);
      });
    });
  }

  static async open(channel: SfuChannel, options: PeerOptions = {}): Promise<WeriftSubscriber> {
    const capabilities = await receiveCapabilities();
    const transport = await channel.createTransport('recv');
    return new WeriftSubscriber(
      channel,
      transport,
      capabilities,
      options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    );
  }

  /** RTP packets of an SSRC no consumer here has (should stay 0). */
  get unrouted(): number {
    return this.#unrouted;
  }

  /** Consumes the producers, negotiates once, connects (the first time) and resumes them. */
  async consume(producerIds: readonly string[]): Promise<RtpReception[]> {
    const consumers = await Promise.all(
      producerIds.map((producerId) =>
        this.#channel.consume(this.#transport.id, producerId, this.#capabilities),
      ),
    );
    const receptions = consumers.map((consumer) => {
      const reception = new RtpReception(consumer);
      this.receptions.set(consumer.consumerId, reception);
      this.#bySsrc.set(reception.ssrc, reception);
      this.#plans.push({
        mid: String(this.#plans.length),
        kind: consumer.kind,
        direction: 'sendonly',
        rtpParameters: consumer.rtpParameters,
        streamId: `stream-${consumer.producerId}`,
        trackId: consumer.consumerId,
      });
      return reception;
    });
    const first = this.#version === 0;
    this.#version += 1;
    const offer = buildOffer(this.#transport, this.#plans, {
      sessionId: this.#sessionId,
      sessionVersion: this.#version,
    });
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await this.pc.createAnswer();
    if (first) {
      // mediasoup learns werift's DTLS role and fingerprint before werift starts the handshake.
      await this.#channel.connectTransport(
        this.#transport.id,
        dtlsParametersFromSdp(parseWebrtcSdp(answer.sdp)),
      );
    }
    await this.pc.setLocalDescription(answer);
    await waitConnected(this.pc, this.#connectTimeoutMs);
    await Promise.all(consumers.map((c) => this.#channel.resumeConsumer(c.consumerId)));
    return receptions;
  }

  async close(): Promise<void> {
    await this.pc.close();
  }
}

/** What werift can receive, read from a throwaway recvonly offer (its codecs and feedback). */
async function receiveCapabilities(): Promise<types.RtpCapabilities> {
  const probe = weriftPeerConnection(['VP8', 'H264']);
  try {
    probe.addTransceiver('video', { direction: 'recvonly' });
    const offer = await probe.createOffer();
    return rtpCapabilitiesFromMedias(parseWebrtcSdp(offer.sdp).medias);
  } finally {
    await probe.close();
  }
}

/**
 * Whether an RTP payload starts a key frame.
 *
 * VP8 (RFC 7741 §4.2-4.3): the payload descriptor (X|R|N|S|R|PID, then the
 * optional I/L/T/K bytes), then at the start of partition 0 (S=1, PID=0)
 * the frame tag whose lowest bit P is 0 for a key frame.
 * H.264: the RTSP proxy's late-joiner check (an IDR or SPS NAL unit alone,
 * in a STAP-A, or starting an FU-A).
 */
export function startsKeyframe(codec: VideoCodecName, payload: Buffer): boolean {
  return codec === 'VP8' ? vp8Keyframe(payload) : h264StartsKeyframe(payload);
}

function vp8Keyframe(payload: Buffer): boolean {
  const first = payload[0];
  if (first === undefined) return false;
  const start = (first & 0x10) !== 0 && (first & 0x07) === 0;
  if (!start) return false;
  let offset = 1;
  if ((first & 0x80) !== 0) {
    const extension = payload[offset];
    if (extension === undefined) return false;
    offset += 1;
    if ((extension & 0x80) !== 0) offset += ((payload[offset] ?? 0) & 0x80) !== 0 ? 2 : 1;
    if ((extension & 0x40) !== 0) offset += 1;
    if ((extension & 0x30) !== 0) offset += 1;
  }
  const tag = payload[offset];
  return tag !== undefined && (tag & 0x01) === 0;
}

export interface VideoSourceOptions {
  readonly codec: VideoCodecName;
  /** UDP ports on 127.0.0.1 to send the same RTP stream to. */
  readonly ports: readonly number[];
  readonly bitrateKbps?: number;
  readonly fps?: number;
  readonly width?: number;
  readonly height?: number;
  /** Frames between key frames (default: one per second). */
  readonly keyframeInterval?: number;
  readonly timeoutMs: number;
}

/**
 * A live GStreamer test pattern encoded to VP8 or H.264 RTP, sent to every
 * port in `ports` (multiudpsink): one encoder however many publishers.
 */
export function startVideoSource(options: VideoSourceOptions): PeerProcess {
  requirePeer('gst-launch-1.0');
  const { fps = 30, width = 320, height = 240, bitrateKbps = 300 } = options;
  const keyframes = options.keyframeInterval ?? fps;
  const encoder =
    options.codec === 'VP8'
      ? [
          'vp8enc',
          'deadline=1',
          'cpu-used=8',
          'end-usage=cbr',
          `target-bitrate=${bitrateKbps * 1000}`,
          `keyframe-max-dist=${keyframes}`,
          '!',
          'rtpvp8pay',
          'pt=96',
          'mtu=1200',
        ]
      : [
          'x264enc',
          'tune=zerolatency',
          'sliced-threads=false',
          'speed-preset=ultrafast',
          `bitrate=${bitrateKbps}`,
          `key-int-max=${keyframes}`,
          '!',
          'rtph264pay',
          'pt=97',
          'mtu=1200',
          'config-interval=-1',
        ];
  const pipeline = [
    ...['videotestsrc', 'is-live=true', 'pattern=smpte', 'horizontal-speed=3', '!'],
    `video/x-raw,width=${width},height=${height},framerate=${fps}/1`,
    '!',
    ...encoder,
    '!',
    'multiudpsink',
    `clients=${options.ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    'sync=false',
  ];
  return spawnPeer('gst-launch-1.0', ['-q', ...pipeline], {
    timeoutMs: options.timeoutMs,
    stopSignal: 'SIGINT',
  });
}

/** A UDP socket on 127.0.0.1 whose RTP packets go to every listener (each publisher's writeRtp). */
export class RtpFanIn {
  readonly socket: Socket;
  readonly #listeners = new Set<(packet: Buffer) => void>();
  packets = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (packet) => {
      this.packets += 1;
      for (const listener of this.#listeners) listener(packet);
    });
  }

  static async bind(port = 0): Promise<RtpFanIn> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new RtpFanIn(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Resolves once a packet came in (GStreamer takes a moment to start); fails after `timeoutMs`. */
  async sending(timeoutMs = 10_000): Promise<void> {
    await waitFor(
      () => (this.packets > 0 ? true : undefined),
      timeoutMs,
      () => 'GStreamer sends',
    );
  }

  /** Adds a listener; returns its removal. */
  add(listener: (packet: Buffer) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * The video of a cascade test: light on a shared machine (several such
 * tests run at once), yet enough to see media cross a pipe.
 */
export const SMALL_VP8 = {
  codec: 'VP8',
  width: 160,
  height: 120,
  fps: 15,
  bitrateKbps: 150,
} as const satisfies Partial<VideoSourceOptions>;

/**
 * One GStreamer source (startVideoSource) into a fresh RtpFanIn, to which
 * each publisher adds itself. The GStreamer process is a peer process:
 * stopAllPeers stops it; the caller closes the RtpFanIn.
 */
export async function startFannedVideo(
  options: Omit<VideoSourceOptions, 'ports'>,
): Promise<RtpFanIn> {
  const fan = await RtpFanIn.bind();
  try {
    startVideoSource({ ...options, ports: [fan.port] });
  } catch (error) {
    fan.close();
    throw error;
  }
  return fan;
}
