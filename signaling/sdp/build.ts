/**
 * Writing the SFU's side of a session description from a mediasoup WebRTC
 * transport (ICE-lite, one bundled transport) and per m-section plans:
 *
 * - a receiving section (recvonly) lists the codecs a Producer was created
 *   with, their RTCP feedback and the header extensions it reads;
 * - a sending section (sendonly) lists a Consumer's codecs, SSRC (and RTX
 *   SSRC in an FID group), cname and msid;
 * - an answer keeps every offered m-section in order and turns down those
 *   without a plan (port 0, out of the BUNDLE group).
 *
 * Server side these answer WHIP and WHEP offers; client side they stand in
 * for the SFU's description (a recvonly answer to the client's send offer,
 * a sendonly offer for consumers). The lines are the ones Chromium and
 * werift accept: credentials, fingerprint and setup in every m-section,
 * rtcp-mux and rtcp-rsize, candidates with end-of-candidates.
 */
import { randomInt } from 'node:crypto';
import type { types } from 'mediasoup';
import {
  write as writeSdpLines,
  type MediaDescription,
  type SessionDescription,
} from 'sdp-transform';
import { SdpError } from './errors.js';
import { answerSetup } from './mediasoup-parameters.js';
import type { ParsedSdp, WebrtcSdpMedia } from './parse.js';

/** What a remote peer needs of a mediasoup WebRtcTransport (transportParameters() has it). */
export interface TransportDescription {
  readonly iceParameters: types.IceParameters;
  readonly iceCandidates: readonly types.IceCandidate[];
  readonly dtlsParameters: types.DtlsParameters;
}

/** An m-section where the SFU receives (a Producer's parameters). */
export interface ReceivePlan {
  readonly mid: string;
  readonly kind: types.MediaKind;
  readonly direction: 'recvonly';
  readonly rtpParameters: types.RtpParameters;
}

/** An m-section where the SFU sends (a Consumer's parameters). */
export interface SendPlan {
  readonly mid: string;
  readonly kind: types.MediaKind;
  readonly direction: 'sendonly';
  readonly rtpParameters: types.RtpParameters;
  /** a=msid: the receiver's MediaStream and track ids. */
  readonly streamId: string;
  readonly trackId: string;
}

export type MediaPlan = ReceivePlan | SendPlan;

export interface BuildOptions {
  /** a=ice-lite (mediasoup is ICE-lite: the default). */
  readonly iceLite?: boolean;
  /** o= session id and version; a re-offer keeps the id and raises the version. */
  readonly sessionId?: string;
  readonly sessionVersion?: number;
}

const RTP_PROTOCOL = 'UDP/TLS/RTP/SAVPF';

/**
 * The answer to `offer`: one m-section per offered one, in order; those with
 * a plan (matched by mid) accepted, the others rejected.
 */
export function buildAnswer(
  offer: ParsedSdp,
  transport: TransportDescription,
  plans: readonly MediaPlan[],
  options: BuildOptions = {},
): string {
  const setup = answerSetup(offer.setup);
  const accepted: string[] = [];
  const media = offer.medias.map((offered) => {
    const plan = offered.mid === undefined ? undefined : plans.find((p) => p.mid === offered.mid);
    if (plan === undefined || offered.rejected) return rejectedSection(offered);
    if (plan.kind !== offered.kind) {
      throw new SdpError(
        'sdp_no_media',
        `m-section ${plan.mid} is ${offered.kind}, the plan for it ${plan.kind}`,
      );
    }
    assertOfferedPayloadTypes(plan, offered);
    accepted.push(plan.mid);
    return mediaSection(plan, transport, setup, offered.protocol);
  });
  return writeSdpLines(session(accepted, media, options));
}

/** An offer of `plans`, in order, all bundled; setup actpass. */
export function buildOffer(
  transport: TransportDescription,
  plans: readonly MediaPlan[],
  options: BuildOptions = {},
): string {
  const media = plans.map((plan) => mediaSection(plan, transport, 'actpass', RTP_PROTOCOL));
  return writeSdpLines(
    session(
      plans.map((plan) => plan.mid),
      media,
      options,
    ),
  );
}

/**
 * The trickle-ice-sdpfrag (RFC 8840) answering an ICE restart: the SFU's new
 * credentials and its candidates, in the bundled (first) m-section.
 */
export function buildSdpFragment(
  transport: Pick<TransportDescription, 'iceParameters' | 'iceCandidates'>,
  media: Pick<WebrtcSdpMedia, 'kind' | 'protocol' | 'formats'> & { readonly mid: string },
  bundle: readonly string[],
): string {
  const lines = [
    'a=ice-lite',
    ...(bundle.length > 0 ? [`a=group:BUNDLE ${bundle.join(' ')}`] : []),
    `m=${media.kind} 9 ${media.protocol} ${media.formats.join(' ')}`,
    `a=mid:${media.mid}`,
    `a=ice-ufrag:${transport.iceParameters.usernameFragment}`,
    `a=ice-pwd:${transport.iceParameters.password}`,
    ...transport.iceCandidates.map((candidate) => `a=${candidateLine(candidate)}`),
    'a=end-of-candidates',
  ];
  return `${lines.join('\r\n')}\r\n`;
}

function session(
  bundle: readonly string[],
  media: MediaDescription[],
  options: BuildOptions,
): SessionDescription {
  return {
    version: 0,
    origin: {
      username: '-',
      sessionId: options.sessionId ?? String(randomInt(1, 2 ** 47)),
      sessionVersion: options.sessionVersion ?? 1,
      netType: 'IN',
      ipVer: 4,
      address: '127.0.0.1',
    },
    name: 'streammesh',
    timing: { start: 0, stop: 0 },
    ...(options.iceLite === false ? {} : { icelite: 'ice-lite' as const }),
    ...(bundle.length > 0 ? { groups: [{ type: 'BUNDLE', mids: bundle.join(' ') }] } : {}),
    msidSemantic: { semantic: 'WMS', token: '*' },
    media,
  };
}

function mediaSection(
  plan: MediaPlan,
  transport: TransportDescription,
  setup: 'actpass' | 'active' | 'passive',
  protocol: string,
): MediaDescription {
  const { rtpParameters } = plan;
  const candidates = transport.iceCandidates;
  const first = candidates.find((candidate) => candidate.protocol === 'udp') ?? candidates[0];
  const address = first === undefined ? '0.0.0.0' : first.address;
  const fingerprint = preferredFingerprint(transport.dtlsParameters);
  const section: MediaDescription = {
    type: plan.kind,
    port: first?.port ?? 9,
    protocol,
    payloads: rtpParameters.codecs.map((codec) => codec.payloadType).join(' '),
    connection: { version: address.includes(':') ? 6 : 4, ip: address },
    iceUfrag: transport.iceParameters.usernameFragment,
    icePwd: transport.iceParameters.password,
    fingerprint: { type: fingerprint.algorithm, hash: fingerprint.value },
    setup,
    mid: plan.mid,
    ext: (rtpParameters.headerExtensions ?? []).map((extension) => ({
      value: extension.id,
      uri: extension.uri,
    })),
    direction: plan.direction,
    rtcpMux: 'rtcp-mux',
    rtcpRsize: 'rtcp-rsize',
    rtp: rtpParameters.codecs.map((codec) => ({
      payload: codec.payloadType,
      codec: codec.mimeType.split('/')[1] ?? codec.mimeType,
      rate: codec.clockRate,
      ...(plan.kind === 'audio' && (codec.channels ?? 1) > 1 ? { encoding: codec.channels } : {}),
    })),
    fmtp: rtpParameters.codecs
      .filter((codec) => Object.keys(codec.parameters ?? {}).length > 0)
      .map((codec) => ({
        payload: codec.payloadType,
        config: Object.entries(codec.parameters ?? {})
          .map(([key, value]) => `${key}=${String(value)}`)
          .join(';'),
      })),
    rtcpFb: rtpParameters.codecs.flatMap((codec) =>
      (codec.rtcpFeedback ?? []).map((feedback) => ({
        payload: codec.payloadType,
        type: feedback.type,
        ...(feedback.parameter === undefined || feedback.parameter === ''
          ? {}
          : { subtype: feedback.parameter }),
      })),
    ),
    candidates: candidates.map((candidate) => ({
      foundation: candidate.foundation,
      component: 1,
      transport: candidate.protocol,
      priority: candidate.priority,
      ip: candidate.address,
      port: candidate.port,
      type: candidate.type,
      ...(candidate.tcpType === undefined ? {} : { tcptype: candidate.tcpType }),
    })),
    endOfCandidates: 'end-of-candidates',
  };
  if (plan.direction === 'sendonly') Object.assign(section, senderLines(plan));
  return section;
}

/** a=msid, a=ssrc (cname, msid) and the FID group of a Consumer's encoding. */
function senderLines(plan: SendPlan): Partial<MediaDescription> {
  const encoding = plan.rtpParameters.encodings?.[0];
  const msid = `${plan.streamId} ${plan.trackId}`;
  if (encoding?.ssrc === undefined) {
    throw new SdpError('sdp_no_ssrc', `the sending plan for m-section ${plan.mid} has no SSRC`);
  }
  const cname = plan.rtpParameters.rtcp?.cname ?? plan.streamId;
  const ssrcs = [encoding.ssrc, ...(encoding.rtx === undefined ? [] : [encoding.rtx.ssrc])];
  return {
    msid: [{ id: plan.streamId, appdata: plan.trackId }],
    ssrcs: ssrcs.flatMap((ssrc) => [
      { id: ssrc, attribute: 'cname', value: cname },
      { id: ssrc, attribute: 'msid', value: msid },
    ]),
    ...(ssrcs.length === 2 ? { ssrcGroups: [{ semantics: 'FID', ssrcs: ssrcs.join(' ') }] } : {}),
  };
}

/**
 * An answer may only use the payload types the offer maps to the same codec
 * (JSEP 5.3.1); a plan that does not is a bug on this side, not the peer's.
 */
function assertOfferedPayloadTypes(plan: MediaPlan, offered: WebrtcSdpMedia): void {
  for (const codec of plan.rtpParameters.codecs) {
    const match = offered.codecs.find((entry) => entry.payloadType === codec.payloadType);
    if (match?.mimeType.toLowerCase() !== codec.mimeType.toLowerCase()) {
      throw new SdpError(
        'sdp_no_codec',
        `m-section ${plan.mid}: payload type ${codec.payloadType} (${codec.mimeType}) is not the offer's`,
      );
    }
  }
}

/**
 * A turned-down m-section: port 0 and the mid. It keeps the offer's first
 * codec: werift fails an answer whose section has no codec it knows, even a
 * rejected one.
 */
function rejectedSection(offered: WebrtcSdpMedia): MediaDescription {
  const first = offered.codecs[0];
  return {
    type: offered.kind,
    port: 0,
    protocol: offered.protocol,
    payloads: first === undefined ? offered.formats.join(' ') : String(first.payloadType),
    connection: { version: 4, ip: '0.0.0.0' },
    ...(offered.mid === undefined ? {} : { mid: offered.mid }),
    direction: 'inactive',
    rtp:
      first === undefined
        ? []
        : [
            {
              payload: first.payloadType,
              codec: first.mimeType.split('/')[1] ?? first.mimeType,
              rate: first.clockRate,
              ...(first.channels === undefined || first.channels < 2
                ? {}
                : { encoding: first.channels }),
            },
          ],
    fmtp: [],
  };
}

/**
 * One fingerprint: Chromium and werift check a single one, and every DTLS
 * stack here has sha-256. mediasoup lists all its digests.
 */
function preferredFingerprint(dtls: types.DtlsParameters): types.DtlsFingerprint {
  const fingerprint =
    dtls.fingerprints.find((candidate) => candidate.algorithm === 'sha-256') ??
    dtls.fingerprints[dtls.fingerprints.length - 1];
  if (fingerprint === undefined) {
    throw new SdpError('sdp_bad_dtls', 'the transport has no DTLS fingerprint');
  }
  return fingerprint;
}

function candidateLine(candidate: types.IceCandidate): string {
  const tcpType = candidate.tcpType === undefined ? '' : ` tcptype ${candidate.tcpType}`;
  return `candidate:${candidate.foundation} 1 ${candidate.protocol} ${candidate.priority} ${candidate.address} ${candidate.port} typ ${candidate.type}${tcpType}`;
}
