/**
 * From parsed SDP to the parameters mediasoup's transports take:
 *
 * - rtpParametersFromMedia: what a sending m-section sends, for
 *   `transport.produce()`. Server side, from a WHIP offer; client side, from
 *   the client's own local offer before it asks the SFU to produce.
 * - rtpCapabilitiesFromMedias: what receiving m-sections can receive, for
 *   `transport.consume()`. Server side, from a WHEP offer; client side, from
 *   a local offer with recvonly transceivers.
 * - dtlsParametersFromSdp: one side's DTLS role and fingerprints, for
 *   `transport.connect()`, from the description that side wrote.
 *
 * Payload types and header extension ids are kept as the SDP has them, so
 * an answer built from these parameters matches the offer. A Producer keeps
 * the payload types it is given, but a Consumer sends with its Router's
 * (mediasoup ignores preferredPayloadType in consume capabilities): to send
 * with a receiver's payload types, consume on a Router created with
 * routerCodecForMedia() codecs, through matchingPayloadTypes() capabilities.
 */
import type { types } from 'mediasoup';
import { isMediaCodec, isRtxCodec, sameCodec } from './codec-match.js';
import { SdpError } from './errors.js';
import type { DtlsSetup, ParsedSdp, SdpCodec, WebrtcSdpMedia } from './parse.js';

/**
 * The RTP parameters of a sending m-section for `transport.produce()`: the
 * first codec in the sender's order that the router supports (one codec, so
 * the sender cannot switch to one the consumers were not set up for) with
 * its RTX, the RTCP feedback and header extensions both sides support, one
 * encoding with the sender's SSRC (and RTX SSRC), the cname and the mid.
 *
 * Throws SdpError: sdp_no_media (not an audio/video sender), sdp_unsupported
 * (simulcast), sdp_no_codec, sdp_no_ssrc.
 */
export function rtpParametersFromMedia(
  media: WebrtcSdpMedia,
  routerCapabilities: types.RtpCapabilities,
): types.RtpParameters {
  const where = `m-section ${media.mid ?? media.index}`;
  const kind = mediaKind(media);
  if (kind === undefined || media.rejected) {
    throw new SdpError('sdp_no_media', `${where} is not an audio or video section`);
  }
  if (media.direction !== 'sendonly' && media.direction !== 'sendrecv') {
    throw new SdpError('sdp_no_media', `${where} sends nothing (${media.direction})`);
  }
  if (media.simulcast || media.rids.length > 0 || simulcastGroup(media)) {
    throw new SdpError(
      'sdp_unsupported',
      `${where} sends simulcast (rid/ssrc-group SIM); send a single encoding`,
    );
  }
  const routerCodecs = (routerCapabilities.codecs ?? []).filter((codec) => codec.kind === kind);
  let chosen: { offered: SdpCodec; router: types.RtpCodecCapability } | undefined;
  for (const offered of media.codecs) {
    if (!isMediaCodec(offered)) continue;
    const router = routerCodecs.find((candidate) => sameCodec(offered, candidate));
    if (router !== undefined) {
      chosen = { offered, router };
      break;
    }
  }
  if (chosen === undefined) {
    throw new SdpError(
      'sdp_no_codec',
      `${where} offers ${describeCodecs(media.codecs.filter(isMediaCodec))}; the SFU takes ${describeCodecs(routerCodecs.filter(isMediaCodec))}`,
    );
  }
  const { offered, router } = chosen;
  const rtx = media.codecs.find(
    (codec) => isRtxCodec(codec) && codec.parameters['apt'] === offered.payloadType,
  );
  const routerHasRtx = routerCodecs.some(
    (codec) => isRtxCodec(codec) && codec.parameters?.['apt'] === router.preferredPayloadType,
  );
  const codecs: types.RtpCodecParameters[] = [
    {
      mimeType: offered.mimeType,
      payloadType: offered.payloadType,
      clockRate: offered.clockRate,
      ...(offered.channels === undefined ? {} : { channels: offered.channels }),
      parameters: { ...offered.parameters },
      rtcpFeedback: offered.rtcpFeedback.filter((feedback) =>
        (router.rtcpFeedback ?? []).some(
          (known) =>
            known.type === feedback.type && (known.parameter ?? '') === (feedback.parameter ?? ''),
        ),
      ),
    },
  ];
  if (rtx !== undefined && routerHasRtx) {
    codecs.push({
      mimeType: rtx.mimeType,
      payloadType: rtx.payloadType,
      clockRate: rtx.clockRate,
      parameters: { apt: offered.payloadType },
      rtcpFeedback: [],
    });
  }
  const headerExtensions = media.headerExtensions
    .filter((extension) =>
      (routerCapabilities.headerExtensions ?? []).some(
        (known) =>
          known.kind === kind &&
          known.uri === extension.uri &&
          (known.direction ?? 'sendrecv') !== 'sendonly' &&
          known.direction !== 'inactive',
      ),
    )
    .map((extension) => ({
      uri: extension.uri as types.RtpHeaderExtensionUri,
      id: extension.id,
    }));
  const { ssrc, rtxSsrc } = primarySsrc(media, where);
  const cname = media.ssrcs.find((entry) => entry.ssrc === ssrc)?.cname ?? media.cname;
  return {
    ...(media.mid === undefined ? {} : { mid: media.mid }),
    codecs,
    headerExtensions,
    encodings: [
      rtxSsrc !== undefined && codecs.length > 1 ? { ssrc, rtx: { ssrc: rtxSsrc } } : { ssrc },
    ],
    rtcp: { ...(cname === undefined ? {} : { cname }), reducedSize: true },
  };
}

/**
 * What the receiving m-sections among `medias` can take, for
 * `transport.consume()`: every codec with preferredPayloadType = its payload
 * type in the SDP, and every header extension with preferredId = its id.
 * Pass one m-section to get consumers whose payload types fit that section.
 */
export function rtpCapabilitiesFromMedias(
  medias: readonly WebrtcSdpMedia[],
): types.RtpCapabilities {
  const codecs: types.RtpCodecCapability[] = [];
  const headerExtensions: types.RtpHeaderExtension[] = [];
  for (const media of medias) {
    const kind = mediaKind(media);
    if (kind === undefined || media.rejected) continue;
    if (media.direction !== 'recvonly' && media.direction !== 'sendrecv') continue;
    for (const codec of media.codecs) {
      const known = codecs.some(
        (entry) => entry.kind === kind && entry.preferredPayloadType === codec.payloadType,
      );
      // mediasoup needs an RTX codec's apt to be a number.
      if (known || (isRtxCodec(codec) && typeof codec.parameters['apt'] !== 'number')) continue;
      codecs.push({
        kind,
        mimeType: codec.mimeType,
        preferredPayloadType: codec.payloadType,
        clockRate: codec.clockRate,
        ...(kind === 'audio' ? { channels: codec.channels ?? 1 } : {}),
        parameters: { ...codec.parameters },
        rtcpFeedback: [...codec.rtcpFeedback],
      });
    }
    for (const extension of media.headerExtensions) {
      if (headerExtensions.some((entry) => entry.kind === kind && entry.uri === extension.uri)) {
        continue;
      }
      headerExtensions.push({
        kind,
        uri: extension.uri as types.RtpHeaderExtensionUri,
        preferredId: extension.id,
        preferredEncrypt: false,
        direction: 'sendrecv',
      });
    }
  }
  return { codecs, headerExtensions };
}

/**
 * The Router codec (for `createRouter({ mediaCodecs })`) that makes a
 * Consumer of `codec` send with the payload type `media` gives it; undefined
 * when `media` does not offer that codec.
 */
export function routerCodecForMedia(
  media: WebrtcSdpMedia,
  codec: types.RtpCodecParameters,
): types.RouterRtpCodecCapability | undefined {
  const kind = mediaKind(media);
  if (kind === undefined || !isMediaCodec(codec)) return undefined;
  const offered = media.codecs.find((entry) => isMediaCodec(entry) && sameCodec(entry, codec));
  if (offered === undefined) return undefined;
  return {
    kind,
    mimeType: codec.mimeType,
    clockRate: codec.clockRate,
    ...(codec.channels === undefined ? {} : { channels: codec.channels }),
    parameters: { ...codec.parameters },
    preferredPayloadType: offered.payloadType,
  };
}

/**
 * `capabilities` less the codecs whose payload type means something else in
 * the Router (an RTX payload type the Router chose itself, say), so that
 * every payload type of a Consumer created with them is the receiver's own.
 */
export function matchingPayloadTypes(
  capabilities: types.RtpCapabilities,
  routerCapabilities: types.RtpCapabilities,
): types.RtpCapabilities {
  const routerCodecs = routerCapabilities.codecs ?? [];
  const codecs = (capabilities.codecs ?? []).filter((codec) => {
    const router = routerCodecs.find(
      (entry) =>
        entry.kind === codec.kind && entry.preferredPayloadType === codec.preferredPayloadType,
    );
    if (router?.mimeType.toLowerCase() !== codec.mimeType.toLowerCase()) return false;
    return !isRtxCodec(codec) || router.parameters?.['apt'] === codec.parameters?.['apt'];
  });
  return { codecs, headerExtensions: [...(capabilities.headerExtensions ?? [])] };
}

/**
 * The DTLS role and fingerprints of the side that wrote `description`, for
 * `transport.connect()`. When that side said actpass, its role follows from
 * the other side's answer: pass the setup the answer carries (answerSetup()
 * of it, when the answer is built here).
 */
export function dtlsParametersFromSdp(
  description: ParsedSdp,
  otherSetup?: DtlsSetup,
): types.DtlsParameters {
  return {
    role: dtlsRole(description.setup, otherSetup),
    fingerprints: description.fingerprints.map((fingerprint) => ({ ...fingerprint })),
  };
}

/**
 * The setup an answer carries for an offer's: passive to actpass (the
 * offerer then starts the DTLS handshake, the role browsers and werift take
 * by default), and the opposite of active or passive.
 */
export function answerSetup(offerSetup: DtlsSetup): 'active' | 'passive' {
  switch (offerSetup) {
    case 'actpass':
    case 'active':
      return 'passive';
    case 'passive':
      return 'active';
    case 'holdconn':
      throw new SdpError('sdp_bad_dtls', 'a=setup:holdconn offers no DTLS connection to answer');
  }
}

function dtlsRole(setup: DtlsSetup, otherSetup: DtlsSetup | undefined): types.DtlsRole {
  switch (setup) {
    case 'active':
      return 'client';
    case 'passive':
      return 'server';
    case 'actpass':
      if (otherSetup === 'active') return 'server';
      if (otherSetup === 'passive') return 'client';
      throw new SdpError(
        'sdp_bad_dtls',
        "a=setup:actpass leaves the DTLS role to the answer; give the answer's setup",
      );
    case 'holdconn':
      throw new SdpError('sdp_bad_dtls', 'a=setup:holdconn offers no DTLS connection');
  }
}

function mediaKind(media: WebrtcSdpMedia): types.MediaKind | undefined {
  return media.kind === 'audio' || media.kind === 'video' ? media.kind : undefined;
}

/** The sender's media SSRC and, from an FID group, its RTX SSRC. */
function primarySsrc(media: WebrtcSdpMedia, where: string): { ssrc: number; rtxSsrc?: number } {
  const fid = media.ssrcGroups.find(
    (group) => group.semantics.toUpperCase() === 'FID' && group.ssrcs.length === 2,
  );
  if (fid !== undefined) {
    const [ssrc, rtxSsrc] = fid.ssrcs as [number, number];
    return { ssrc, rtxSsrc };
  }
  const first = media.ssrcs[0];
  if (first === undefined) {
    throw new SdpError('sdp_no_ssrc', `${where} sends but announces no a=ssrc`);
  }
  return { ssrc: first.ssrc };
}

function simulcastGroup(media: WebrtcSdpMedia): boolean {
  return media.ssrcGroups.some((group) => group.semantics.toUpperCase() === 'SIM');
}

function describeCodecs(codecs: readonly { mimeType: string }[]): string {
  const names = [...new Set(codecs.map((codec) => codec.mimeType))];
  return names.length === 0 ? 'no codec' : names.join(', ');
}
