/**
 * SDP (RFC 8866) as an RTSP proxy needs it: the session description a
 * camera returns to DESCRIBE, kept line by line so that it re-serializes as
 * it came, with the few rewrites a proxy makes (connection addresses, control
 * URLs) and the media facts it reads (payload types, clock rates).
 *
 *   v=0
 *   o=- 1188340656180883 1 IN IP4 192.168.0.10
 *   s=Session streamed by GStreamer
 *   c=IN IP4 0.0.0.0                     <- session level, until the first m=
 *   t=0 0
 *   a=control:*
 *   m=video 0 RTP/AVP 96                 <- a media section, until the next m=
 *   a=rtpmap:96 H264/90000
 *   a=control:stream=0
 *
 * Parsing never throws: a description that is not SDP comes back as a reason.
 */

export interface SdpLine {
  /** One letter: v o s i u e p c b t r z k a m. */
  readonly type: string;
  readonly value: string;
}

export interface SdpMedia {
  readonly kind: string;
  readonly port: number;
  readonly protocol: string;
  readonly formats: readonly string[];
  /** The m= line first, then the section's other lines. */
  readonly lines: readonly SdpLine[];
}

export interface Sdp {
  readonly session: readonly SdpLine[];
  readonly media: readonly SdpMedia[];
}

export interface RtpMap {
  readonly payloadType: number;
  readonly encoding: string;
  readonly clockRate: number;
  readonly channels: number | undefined;
}

export type SdpErrorReason =
  'too_large' | 'too_many_lines' | 'too_many_media' | 'bad_line' | 'no_version' | 'bad_media_line';

export interface SdpLimits {
  readonly maxBytes: number;
  readonly maxLines: number;
  readonly maxMedia: number;
}

export const defaultSdpLimits: SdpLimits = { maxBytes: 64 * 1024, maxLines: 1024, maxMedia: 64 };

const LINE = /^([a-z])=(.*)$/;
const MEDIA = /^(\S+) (\d{1,5})(?:\/\d+)? (\S+)((?: \S+)*)$/;
// Printable text plus tab: SDP carries UTF-8 text, never control characters.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

export function parseSdp(
  text: string,
  limits: SdpLimits = defaultSdpLimits,
): { ok: true; sdp: Sdp } | { ok: false; reason: SdpErrorReason } {
  if (Buffer.byteLength(text) > limits.maxBytes) return { ok: false, reason: 'too_large' };
  const rawLines = text.split(/\r?\n/);
  if (rawLines.length > limits.maxLines) return { ok: false, reason: 'too_many_lines' };
  const session: SdpLine[] = [];
  const media: { header: SdpMedia; lines: SdpLine[] }[] = [];
  for (const raw of rawLines) {
    if (raw === '') continue;
    const match = LINE.exec(raw);
    if (match === null || CONTROL.test(raw)) return { ok: false, reason: 'bad_line' };
    const line: SdpLine = { type: match[1] ?? '', value: match[2] ?? '' };
    if (line.type === 'm') {
      if (media.length === limits.maxMedia) return { ok: false, reason: 'too_many_media' };
      const parsed = MEDIA.exec(line.value);
      const port = Number(parsed?.[2]);
      if (parsed === null || port > 65535) return { ok: false, reason: 'bad_media_line' };
      const formats = (parsed[4] ?? '').split(' ').filter((format) => format !== '');
      const lines = [line];
      media.push({
        header: { kind: parsed[1] ?? '', port, protocol: parsed[3] ?? '', formats, lines },
        lines,
      });
    } else if (media.length === 0) {
      session.push(line);
    } else {
      media.at(-1)?.lines.push(line);
    }
  }
  if (session[0]?.type !== 'v') return { ok: false, reason: 'no_version' };
  return { ok: true, sdp: { session, media: media.map((entry) => entry.header) } };
}

export function serializeSdp(sdp: Sdp): string {
  const lines = [...sdp.session, ...sdp.media.flatMap((media) => media.lines)];
  return lines.map((line) => `${line.type}=${line.value}\r\n`).join('');
}

/** Values of `a=<name>:<value>` (or `a=<name>` as '') in a list of lines. */
export function attributes(lines: readonly SdpLine[], name: string): string[] {
  const values: string[] = [];
  for (const line of lines) {
    if (line.type !== 'a') continue;
    if (line.value === name) values.push('');
    else if (line.value.startsWith(`${name}:`)) values.push(line.value.slice(name.length + 1));
  }
  return values;
}

/** The a=rtpmap lines of a media section that parse (RFC 8866 §6.6). */
export function rtpMaps(media: SdpMedia): RtpMap[] {
  const maps: RtpMap[] = [];
  for (const value of attributes(media.lines, 'rtpmap')) {
    const match = /^(\d{1,3}) ([^/\s]+)\/(\d{1,6})(?:\/(\d{1,2}))?$/.exec(value.trim());
    if (match === null) continue;
    const payloadType = Number(match[1]);
    if (payloadType > 127) continue;
    maps.push({
      payloadType,
      encoding: match[2] ?? '',
      clockRate: Number(match[3]),
      channels: match[4] === undefined ? undefined : Number(match[4]),
    });
  }
  return maps;
}

/**
 * What a proxy serves to its viewers: every connection line and the origin
 * point at the proxy's address, and each media section's control URL is
 * replaced by `controlFor(index)` so viewers never see the camera's URLs.
 */
export function rewriteForProxy(
  sdp: Sdp,
  options: { readonly address: string; readonly controlFor: (mediaIndex: number) => string },
): Sdp {
  const family = options.address.includes(':') ? 'IP6' : 'IP4';
  const rewrite = (line: SdpLine): SdpLine => {
    if (line.type === 'c') return { type: 'c', value: `IN ${family} ${options.address}` };
    if (line.type === 'o') {
      const fields = line.value.split(' ');
      if (fields.length === 6) {
        fields[4] = family;
        fields[5] = options.address;
        return { type: 'o', value: fields.join(' ') };
      }
    }
    return line;
  };
  const session = sdp.session.filter((line) => !isControl(line)).map(rewrite);
  session.push({ type: 'a', value: 'control:*' });
  const media = sdp.media.map((section, index) => {
    const lines = section.lines.filter((line) => !isControl(line)).map(rewrite);
    lines.push({ type: 'a', value: `control:${options.controlFor(index)}` });
    return { ...section, lines };
  });
  return { session, media };
}

function isControl(line: SdpLine): boolean {
  return line.type === 'a' && line.value.startsWith('control:');
}
