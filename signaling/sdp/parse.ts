/**
 * Reading a remote session description (RFC 8866, JSEP RFC 8829) into typed,
 * validated values: ICE credentials (session or media level), DTLS
 * fingerprints and setup role, and per m-section the mid, kind, direction,
 * codecs with their fmtp parameters and RTCP feedback, RTX mappings, header
 * extensions, SSRCs and SSRC groups, rids and simulcast, and the cname.
 *
 * sdp-transform does the line grammar; everything it hands back is checked
 * here before use, since it keeps whatever a line held (a string where a
 * number was expected, an unmatched line in `invalid`). Any problem is an
 * SdpError; nothing else is thrown, whatever the input (see the fuzz test).
 *
 * The same parser serves both sides of a connection: the SFU parsing a
 * WHIP/WHEP client's offer, and a client parsing its own WebRTC stack's
 * local description before telling the SFU what it sends and receives.
 */
import type { types } from 'mediasoup';
import { parse as parseSdpLines } from 'sdp-transform';
import { SdpError } from './errors.js';

/** Larger descriptions are refused unparsed (a Chromium offer is about 6 KiB). */
export const MAX_SDP_BYTES = 64 * 1024;
/** More m-sections than any WebRTC endpoint here needs; bounds the work per offer. */
const MAX_MEDIA_SECTIONS = 32;

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
export type DtlsSetup = 'actpass' | 'active' | 'passive' | 'holdconn';

export interface SdpCodec {
  readonly payloadType: number;
  /** `<kind>/<encoding name>` as the rtpmap spells it: video/VP8, audio/opus, video/rtx. */
  readonly mimeType: string;
  readonly clockRate: number;
  /** Audio channels, when the rtpmap gives them. */
  readonly channels?: number;
  /** fmtp parameters; integers as numbers, except profile-level-id (hex). */
  readonly parameters: Readonly<Record<string, string | number>>;
  /** This payload type's rtcp-fb lines and the `*` ones. */
  readonly rtcpFeedback: readonly types.RtcpFeedback[];
}

export interface SdpHeaderExtension {
  readonly uri: string;
  readonly id: number;
  readonly direction?: SdpDirection;
}

export interface SdpSsrc {
  readonly ssrc: number;
  readonly cname?: string;
}

export interface SdpSsrcGroup {
  /** FID (RTX), SIM (simulcast), FEC-FR... */
  readonly semantics: string;
  readonly ssrcs: readonly number[];
}

export interface SdpRid {
  readonly id: string;
  readonly direction: 'send' | 'recv';
}

export interface SdpIceCredentials {
  readonly usernameFragment: string;
  readonly password: string;
}

export interface SdpCandidate {
  readonly foundation: string;
  readonly component: number;
  readonly protocol: 'udp' | 'tcp';
  readonly priority: number;
  readonly address: string;
  readonly port: number;
  readonly type: string;
}

export interface WebrtcSdpMedia {
  /** Position among the m-sections (an answer keeps the order). */
  readonly index: number;
  /** audio, video, application... as the m= line says. */
  readonly kind: string;
  readonly port: number;
  /** UDP/TLS/RTP/SAVPF, UDP/DTLS/SCTP... */
  readonly protocol: string;
  /** The m= line's format list, as written. */
  readonly formats: readonly string[];
  /** Port 0 without a=bundle-only: the section is turned down. */
  readonly rejected: boolean;
  readonly mid: string | undefined;
  /** Of the side that wrote the description; sendrecv when absent. */
  readonly direction: SdpDirection;
  /** Every rtpmap'd payload type in m= line order, RTX/RED/FEC included. */
  readonly codecs: readonly SdpCodec[];
  readonly headerExtensions: readonly SdpHeaderExtension[];
  readonly ssrcs: readonly SdpSsrc[];
  readonly ssrcGroups: readonly SdpSsrcGroup[];
  readonly rids: readonly SdpRid[];
  /** a=simulcast is present. */
  readonly simulcast: boolean;
  /** The first a=ssrc cname. */
  readonly cname: string | undefined;
  /** a=msid (stream id and track id). */
  readonly msid: { readonly streamId: string; readonly trackId: string } | undefined;
  /** Media level, else session level. */
  readonly ice: SdpIceCredentials | undefined;
  readonly fingerprints: readonly types.DtlsFingerprint[];
  readonly setup: DtlsSetup | undefined;
  /** Well-formed candidates; malformed ones are dropped (ICE-lite ignores them anyway). */
  readonly candidates: readonly SdpCandidate[];
  readonly endOfCandidates: boolean;
  readonly rtcpMux: boolean;
  readonly rtcpReducedSize: boolean;
}

export interface ParsedSdp {
  readonly iceLite: boolean;
  /** The mids of the first BUNDLE group, [] without one. */
  readonly bundle: readonly string[];
  readonly medias: readonly WebrtcSdpMedia[];
  /** The bundled transport's credentials: of the first m-section not rejected. */
  readonly ice: SdpIceCredentials;
  readonly fingerprints: readonly types.DtlsFingerprint[];
  /** `active` when absent (RFC 4145's default). */
  readonly setup: DtlsSetup;
}

/** A trickle-ice-sdpfrag body (RFC 8840): new credentials (an ICE restart) and/or candidates. */
export interface SdpFragment {
  readonly ice: SdpIceCredentials | undefined;
  readonly mids: readonly string[];
  readonly candidates: readonly SdpCandidate[];
  readonly endOfCandidates: boolean;
}

/** Parses and checks a complete description (offer or answer). Throws SdpError only. */
export function parseWebrtcSdp(text: unknown): ParsedSdp {
  const raw = parseRaw(text, 'description');
  if (!/^v=0\r?\n/.test(text as string)) {
    throw new SdpError('sdp_syntax', 'an SDP description starts with the line v=0');
  }
  const session = raw as RawLevel & { media?: unknown; groups?: unknown };
  const mediaList = Array.isArray(session.media) ? (session.media as RawLevel[]) : [];
  if (mediaList.length === 0) throw new SdpError('sdp_no_media', 'the description has no m= line');
  if (mediaList.length > MAX_MEDIA_SECTIONS) {
    throw new SdpError(
      'sdp_no_media',
      `${mediaList.length} m= lines; at most ${MAX_MEDIA_SECTIONS} are accepted`,
    );
  }
  const sessionIce = iceCredentials(session, 'the session level');
  const sessionFingerprints = fingerprints(session, 'the session level');
  const sessionSetup = setupRole(session, 'the session level');
  const sessionDirection = direction(session, 'the session level');
  const medias = mediaList.map((media, index) =>
    parseMedia(media, index, {
      ice: sessionIce,
      fingerprints: sessionFingerprints,
      setup: sessionSetup,
      direction: sessionDirection,
    }),
  );
  const mids = new Set<string>();
  for (const media of medias) {
    if (media.mid === undefined) continue;
    if (mids.has(media.mid)) {
      throw new SdpError('sdp_bad_mid', `mid ${media.mid} is used by two m-sections`);
    }
    mids.add(media.mid);
  }
  const transport = medias.find((media) => !media.rejected);
  if (transport === undefined) {
    throw new SdpError('sdp_no_media', 'every m-section is rejected (port 0)');
  }
  if (transport.ice === undefined) {
    throw new SdpError(
      'sdp_bad_ice',
      `no a=ice-ufrag and a=ice-pwd for m-section ${transport.index} (nor at the session level)`,
    );
  }
  if (transport.fingerprints.length === 0) {
    throw new SdpError(
      'sdp_bad_dtls',
      `no a=fingerprint for m-section ${transport.index} (nor at the session level)`,
    );
  }
  return {
    iceLite: session['icelite'] === 'ice-lite',
    bundle: bundleGroup(session.groups),
    medias,
    ice: transport.ice,
    fingerprints: transport.fingerprints,
    setup: transport.setup ?? 'active',
  };
}

/** Parses a trickle-ice-sdpfrag body (no v= line). Throws SdpError only. */
export function parseSdpFragment(text: unknown): SdpFragment {
  const raw = parseRaw(text, 'fragment');
  if (/^v=/m.test(text as string)) {
    throw new SdpError('sdp_syntax', 'an SDP fragment has no v= line (RFC 8840)');
  }
  const session = raw as RawLevel & { media?: unknown };
  const medias = Array.isArray(session.media) ? (session.media as RawLevel[]) : [];
  let ice = iceCredentials(session, 'the fragment');
  const mids: string[] = [];
  const candidates: SdpCandidate[] = [...parseCandidates(session)];
  let endOfCandidates = session['endOfCandidates'] === 'end-of-candidates';
  for (const [index, media] of medias.entries()) {
    const where = `m-section ${index}`;
    ice ??= iceCredentials(media, where);
    const mid = optionalToken(media['mid'], `${where}: a=mid`);
    if (mid !== undefined) mids.push(mid);
    candidates.push(...parseCandidates(media));
    endOfCandidates ||= media['endOfCandidates'] === 'end-of-candidates';
  }
  return { ice, mids, candidates, endOfCandidates };
}

/** sdp-transform's output for one level (session or m-section), unchecked. */
type RawLevel = Record<string, unknown>;

interface SessionDefaults {
  readonly ice: SdpIceCredentials | undefined;
  readonly fingerprints: readonly types.DtlsFingerprint[];
  readonly setup: DtlsSetup | undefined;
  readonly direction: SdpDirection | undefined;
}

/** Line-level checks sdp-transform does not do, then its parse. */
function parseRaw(text: unknown, what: string): RawLevel {
  if (typeof text !== 'string') throw new SdpError('sdp_syntax', `the ${what} is not text`);
  if (text.trim() === '') throw new SdpError('sdp_syntax', `the ${what} is empty`);
  if (Buffer.byteLength(text, 'utf8') > MAX_SDP_BYTES) {
    throw new SdpError('sdp_syntax', `the ${what} is larger than ${MAX_SDP_BYTES} bytes`);
  }
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line === '') continue;
    // A type letter, '=', then printable text (UTF-8 allowed in s= and i=).
    // eslint-disable-next-line no-control-regex
    if (!/^[a-z]=[^\x00-\x08\x0a-\x1f\x7f]*$/.test(line)) {
      throw new SdpError(
        'sdp_syntax',
        `line ${index + 1} is not an SDP line (<letter>=<value>): ${JSON.stringify(line.slice(0, 60))}`,
      );
    }
  }
  try {
    return parseSdpLines(text) as unknown as RawLevel;
  } catch (error) {
    // sdp-transform is regex based and not known to throw; keep the promise anyway.
    throw new SdpError('sdp_syntax', `unparsable SDP: ${String(error)}`);
  }
}

function parseMedia(raw: RawLevel, index: number, session: SessionDefaults): WebrtcSdpMedia {
  const where = `m-section ${index}`;
  const kind = raw['type'];
  if (typeof kind !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(kind)) {
    throw new SdpError('sdp_syntax', `${where}: bad media type ${JSON.stringify(kind)}`);
  }
  const port = integer(raw['port'], 0, 65535, `${where}: port`);
  const protocol = raw['protocol'];
  if (typeof protocol !== 'string' || !/^[A-Za-z0-9/_.-]{1,64}$/.test(protocol)) {
    throw new SdpError('sdp_syntax', `${where}: bad transport protocol`);
  }
  const formats = (scalar(raw['payloads']) ?? '').split(' ').filter((token) => token !== '');
  if (formats.length === 0) throw new SdpError('sdp_syntax', `${where}: the m= line has no format`);
  const bundleOnly = raw['bundleOnly'] === 'bundle-only';
  const rejected = port === 0 && !bundleOnly;
  const mid = optionalToken(raw['mid'], `${where}: a=mid`);
  if (mid === undefined && !rejected) {
    throw new SdpError('sdp_bad_mid', `${where} has no a=mid (BUNDLE needs one per m-section)`);
  }
  const ssrcs = parseSsrcs(raw, where);
  return {
    index,
    kind,
    port,
    protocol,
    formats,
    rejected,
    mid,
    direction: direction(raw, where) ?? session.direction ?? 'sendrecv',
    codecs: parseCodecs(raw, formats, kind, where),
    headerExtensions: parseExtensions(raw, where),
    ssrcs,
    ssrcGroups: parseSsrcGroups(raw, where),
    rids: parseRids(raw, where),
    simulcast: raw['simulcast'] !== undefined || raw['simulcast_03'] !== undefined,
    cname: ssrcs.find((entry) => entry.cname !== undefined)?.cname,
    msid: parseMsid(raw),
    ice: iceCredentials(raw, where) ?? session.ice,
    fingerprints: mergeFingerprints(fingerprints(raw, where), session.fingerprints),
    setup: setupRole(raw, where) ?? session.setup,
    candidates: parseCandidates(raw),
    endOfCandidates: raw['endOfCandidates'] === 'end-of-candidates',
    rtcpMux: raw['rtcpMux'] === 'rtcp-mux',
    rtcpReducedSize: raw['rtcpRsize'] === 'rtcp-rsize',
  };
}

function parseCodecs(
  raw: RawLevel,
  formats: readonly string[],
  kind: string,
  where: string,
): SdpCodec[] {
  const rtpmaps = list(raw['rtp']);
  const fmtps = list(raw['fmtp']);
  const feedback = list(raw['rtcpFb']);
  const codecs = new Map<number, SdpCodec>();
  for (const entry of rtpmaps) {
    const payloadType = integer(entry['payload'], 0, 127, `${where}: rtpmap payload type`);
    const name = entry['codec'];
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,32}$/.test(name)) {
      throw new SdpError('sdp_syntax', `${where}: rtpmap ${payloadType} has no encoding name`);
    }
    if (codecs.has(payloadType)) {
      throw new SdpError('sdp_syntax', `${where}: payload type ${payloadType} mapped twice`);
    }
    const clockRate = integer(entry['rate'], 1, 10_000_000, `${where}: rtpmap ${payloadType} rate`);
    const channels =
      entry['encoding'] === undefined || entry['encoding'] === ''
        ? undefined
        : integer(entry['encoding'], 1, 255, `${where}: rtpmap ${payloadType} channels`);
    const parameters: Record<string, string | number> = {};
    for (const fmtp of fmtps) {
      if (fmtp['payload'] !== payloadType) continue;
      Object.assign(parameters, fmtpParameters(fmtp['config'], `${where}: fmtp ${payloadType}`));
    }
    codecs.set(payloadType, {
      payloadType,
      mimeType: `${kind}/${name}`,
      clockRate,
      ...(channels === undefined ? {} : { channels }),
      parameters,
      rtcpFeedback: feedbackFor(feedback, payloadType, where),
    });
  }
  // In the m= line's order: that is the sender's order of preference.
  const ordered: SdpCodec[] = [];
  for (const format of formats) {
    const codec = codecs.get(Number(format));
    if (codec !== undefined && !ordered.includes(codec)) ordered.push(codec);
  }
  return ordered;
}

/** `a=fmtp` parameters: `key=value` pairs separated by `;`. */
function fmtpParameters(config: unknown, where: string): Record<string, string | number> {
  if (typeof config !== 'string' && typeof config !== 'number') {
    throw new SdpError('sdp_syntax', `${where}: no parameters`);
  }
  const parameters: Record<string, string | number> = {};
  for (const pair of String(config).split(';')) {
    const trimmed = pair.trim();
    const equals = trimmed.indexOf('=');
    // Values without a key (telephone-event's "0-15", RED's "111/111") say nothing the SFU uses.
    if (equals <= 0) continue;
    const key = trimmed.slice(0, equals).trim();
    const value = trimmed.slice(equals + 1).trim();
    // A hex profile-level-id such as 640032 must stay text.
    parameters[key] =
      key !== 'profile-level-id' && String(Number(value)) === value ? Number(value) : value;
  }
  return parameters;
}

function feedbackFor(
  feedback: readonly RawLevel[],
  payloadType: number,
  where: string,
): types.RtcpFeedback[] {
  const result: types.RtcpFeedback[] = [];
  for (const entry of feedback) {
    const payload = entry['payload'];
    if (payload !== payloadType && payload !== '*') continue;
    const type = entry['type'];
    if (typeof type !== 'string' || type === '') {
      throw new SdpError('sdp_syntax', `${where}: rtcp-fb without a type`);
    }
    const subtype = entry['subtype'];
    const parameter = scalar(subtype) ?? '';
    if (!result.some((known) => known.type === type && known.parameter === parameter)) {
      result.push({ type, parameter });
    }
  }
  return result;
}

function parseExtensions(raw: RawLevel, where: string): SdpHeaderExtension[] {
  return list(raw['ext']).map((entry) => {
    const id = integer(entry['value'], 1, 255, `${where}: extmap id`);
    const uri = entry['uri'];
    if (typeof uri !== 'string' || uri === '') {
      throw new SdpError('sdp_syntax', `${where}: extmap ${id} has no URI`);
    }
    const extensionDirection = entry['direction'];
    return isDirection(extensionDirection)
      ? { uri, id, direction: extensionDirection }
      : { uri, id };
  });
}

function parseSsrcs(raw: RawLevel, where: string): SdpSsrc[] {
  const bySsrc = new Map<number, { ssrc: number; cname?: string }>();
  for (const entry of list(raw['ssrcs'])) {
    const ssrc = integer(entry['id'], 0, 0xffffffff, `${where}: a=ssrc`);
    const known = bySsrc.get(ssrc) ?? { ssrc };
    bySsrc.set(ssrc, known);
    if (entry['attribute'] === 'cname' && entry['value'] !== undefined) {
      known.cname = scalar(entry['value']) ?? '';
    }
  }
  return [...bySsrc.values()];
}

function parseSsrcGroups(raw: RawLevel, where: string): SdpSsrcGroup[] {
  return list(raw['ssrcGroups']).map((entry) => {
    const semantics = entry['semantics'];
    if (typeof semantics !== 'string' || semantics === '') {
      throw new SdpError('sdp_syntax', `${where}: ssrc-group without semantics`);
    }
    const ssrcs = (scalar(entry['ssrcs']) ?? '')
      .split(' ')
      .filter((token) => token !== '')
      .map((token) => integer(token, 0, 0xffffffff, `${where}: ssrc-group ${semantics}`));
    return { semantics, ssrcs };
  });
}

function parseRids(raw: RawLevel, where: string): SdpRid[] {
  return list(raw['rids']).map((entry) => {
    const id = optionalToken(entry['id'], `${where}: a=rid`);
    const ridDirection = entry['direction'];
    if (id === undefined || (ridDirection !== 'send' && ridDirection !== 'recv')) {
      throw new SdpError('sdp_syntax', `${where}: a=rid needs an id and send or recv`);
    }
    return { id, direction: ridDirection };
  });
}

function parseMsid(raw: RawLevel): WebrtcSdpMedia['msid'] {
  const first = list(raw['msid'])[0];
  if (first === undefined) return undefined;
  const streamId = scalar(first['id']);
  if (streamId === undefined) return undefined;
  return { streamId, trackId: scalar(first['appdata']) ?? '' };
}

function parseCandidates(raw: RawLevel): SdpCandidate[] {
  const candidates: SdpCandidate[] = [];
  for (const entry of list(raw['candidates'])) {
    const protocol = (scalar(entry['transport']) ?? '').toLowerCase();
    const { component, priority, ip, port, type } = entry;
    const foundation = scalar(entry['foundation']);
    if (
      (protocol !== 'udp' && protocol !== 'tcp') ||
      typeof component !== 'number' ||
      typeof priority !== 'number' ||
      typeof port !== 'number' ||
      typeof ip !== 'string' ||
      typeof type !== 'string' ||
      foundation === undefined
    ) {
      continue;
    }
    candidates.push({
      foundation,
      component,
      protocol,
      priority,
      address: ip,
      port,
      type,
    });
  }
  return candidates;
}

/** ice-char (RFC 8839): letters, digits, + and /. */
const UFRAG = /^[A-Za-z0-9+/]{4,256}$/;
const PASSWORD = /^[A-Za-z0-9+/]{22,256}$/;

function iceCredentials(raw: RawLevel, where: string): SdpIceCredentials | undefined {
  const ufrag = raw['iceUfrag'];
  const pwd = raw['icePwd'];
  if (ufrag === undefined && pwd === undefined) return undefined;
  const usernameFragment = scalar(ufrag) ?? '';
  const password = scalar(pwd) ?? '';
  if (!UFRAG.test(usernameFragment)) {
    throw new SdpError('sdp_bad_ice', `${where}: a=ice-ufrag must be 4-256 ICE characters`);
  }
  if (!PASSWORD.test(password)) {
    throw new SdpError('sdp_bad_ice', `${where}: a=ice-pwd must be 22-256 ICE characters`);
  }
  return { usernameFragment, password };
}

/** Digest sizes in bytes of the algorithms mediasoup accepts. */
const FINGERPRINT_BYTES: Readonly<Record<types.FingerprintAlgorithm, number>> = {
  'sha-1': 20,
  'sha-224': 28,
  'sha-256': 32,
  'sha-384': 48,
  'sha-512': 64,
};

function fingerprints(raw: RawLevel, where: string): types.DtlsFingerprint[] {
  const entry = raw['fingerprint'];
  if (entry === undefined) return [];
  const { type, hash } = entry as RawLevel;
  const algorithm = (scalar(type) ?? '').toLowerCase();
  const bytes = FINGERPRINT_BYTES[algorithm as types.FingerprintAlgorithm] as number | undefined;
  if (bytes === undefined) {
    throw new SdpError(
      'sdp_bad_dtls',
      `${where}: fingerprint algorithm ${JSON.stringify(type)} is not one of ${Object.keys(FINGERPRINT_BYTES).join(', ')}`,
    );
  }
  const value = (scalar(hash) ?? '').toUpperCase();
  if (!new RegExp(`^[0-9A-F]{2}(:[0-9A-F]{2}){${bytes - 1}}$`).test(value)) {
    throw new SdpError(
      'sdp_bad_dtls',
      `${where}: a ${algorithm} fingerprint is ${bytes} hex bytes separated by colons`,
    );
  }
  return [{ algorithm: algorithm as types.FingerprintAlgorithm, value }];
}

function mergeFingerprints(
  media: types.DtlsFingerprint[],
  session: readonly types.DtlsFingerprint[],
): readonly types.DtlsFingerprint[] {
  return media.length > 0 ? media : session;
}

function setupRole(raw: RawLevel, where: string): DtlsSetup | undefined {
  const setup = raw['setup'];
  if (setup === undefined) return undefined;
  if (setup === 'actpass' || setup === 'active' || setup === 'passive' || setup === 'holdconn') {
    return setup;
  }
  throw new SdpError(
    'sdp_bad_dtls',
    `${where}: a=setup must be actpass, active, passive or holdconn, not ${JSON.stringify(setup)}`,
  );
}

function direction(raw: RawLevel, where: string): SdpDirection | undefined {
  const value = raw['direction'];
  if (value === undefined) return undefined;
  if (isDirection(value)) return value;
  throw new SdpError('sdp_syntax', `${where}: bad direction ${JSON.stringify(value)}`);
}

function isDirection(value: unknown): value is SdpDirection {
  return (
    value === 'sendrecv' || value === 'sendonly' || value === 'recvonly' || value === 'inactive'
  );
}

function bundleGroup(groups: unknown): string[] {
  const bundle = list(groups).find((group) => group['type'] === 'BUNDLE');
  if (bundle === undefined) return [];
  return (scalar(bundle['mids']) ?? '').split(' ').filter((mid) => mid !== '');
}

/** RFC 8866 token characters, bounded in length. */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`{|}~-]{1,64}$/;

function optionalToken(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  const text = scalar(value) ?? '';
  if (!TOKEN.test(text)) {
    throw new SdpError(
      'sdp_syntax',
      `${where}: ${JSON.stringify(text.slice(0, 80))} is not a token`,
    );
  }
  return text;
}

function integer(value: unknown, min: number, max: number, where: string): number {
  const number = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    throw new SdpError(
      'sdp_syntax',
      `${where}: ${JSON.stringify(value)} is not an integer in ${min}-${max}`,
    );
  }
  return number;
}

/** A string or number value as text; undefined for anything else. */
function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

/** An sdp-transform list attribute, keeping only its object entries. */
function list(value: unknown): RawLevel[] {
  if (!Array.isArray(value)) return [];
  return value.filter((entry): entry is RawLevel => typeof entry === 'object' && entry !== null);
}
