/**
 * Parsers and formatters for the RTSP header values a proxy rewrites:
 * Transport (RFC 2326 §12.39), Session (§12.37), Range (§12.29) and
 * RTP-Info (§12.33). Parsers return undefined for garbage; they never throw.
 */

/** Splits on `separator` outside double-quoted strings. */
export function splitQuoted(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (quoted && c === '\\' && i + 1 < value.length) {
      current += c + value.charAt(++i);
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return value;
}

function parseUint(text: string, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

// ---------------------------------------------------------------- Transport

export type TransportProtocol =
  | 'RTP/AVP'
  | 'RTP/AVP/TCP'
  | 'RTP/AVP/UDP'
  | 'RTP/SAVP'
  | 'RTP/SAVP/TCP'
  | 'RTP/AVPF'
  | 'RTP/SAVPF'
  | (string & {});

/**
 * One transport spec. A single port or channel (`client_port=5000`) is kept
 * as `[5000, 5000]` and formatted back as `5000`.
 */
export interface TransportSpec {
  protocol: TransportProtocol;
  delivery?: 'unicast' | 'multicast';
  destination?: string;
  source?: string;
  clientPort?: [number, number];
  serverPort?: [number, number];
  port?: [number, number];
  interleaved?: [number, number];
  ttl?: number;
  ssrc?: number;
  mode?: string;
  append?: boolean;
  /** Other parameters in order; a flag parameter has no value. */
  other?: [string, string | undefined][];
}

const PROTOCOL = /^[A-Za-z][A-Za-z0-9]*\/[A-Za-z][A-Za-z0-9]*(\/[A-Za-z]+)?$/;
const PARAM_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

function parsePair(text: string, max: number): [number, number] | undefined {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (match === null) return undefined;
  const a = parseUint(match[1] ?? '', max);
  const b = match[2] === undefined ? a : parseUint(match[2], max);
  return a === undefined || b === undefined ? undefined : [a, b];
}

function formatPair([a, b]: [number, number]): string {
  return a === b ? String(a) : `${a}-${b}`;
}

function parseTransportSpec(text: string): TransportSpec | undefined {
  const params = splitQuoted(text, ';').map((p) => p.trim());
  const protocol = params.shift() ?? '';
  if (!PROTOCOL.test(protocol)) return undefined;
  const spec: TransportSpec = { protocol };
  for (const param of params) {
    if (param === '') continue;
    const eq = param.indexOf('=');
    const name = (eq === -1 ? param : param.slice(0, eq)).trim();
    const value = eq === -1 ? undefined : param.slice(eq + 1).trim();
    if (!PARAM_NAME.test(name)) return undefined;
    const lower = name.toLowerCase();
    if (value === undefined) {
      if (lower === 'unicast' || lower === 'multicast') spec.delivery = lower;
      else if (lower === 'append') spec.append = true;
      else if (lower === 'destination') spec.destination = '';
      else (spec.other ??= []).push([name, undefined]);
      continue;
    }
    switch (lower) {
      case 'client_port':
      case 'server_port':
      case 'port': {
        const pair = parsePair(value, 65535);
        if (pair === undefined) return undefined;
        if (lower === 'client_port') spec.clientPort = pair;
        else if (lower === 'server_port') spec.serverPort = pair;
        else spec.port = pair;
        break;
      }
      case 'interleaved': {
        const pair = parsePair(value, 255);
        if (pair === undefined) return undefined;
        spec.interleaved = pair;
        break;
      }
      case 'ttl': {
        const ttl = parseUint(value, 255);
        if (ttl === undefined) return undefined;
        spec.ttl = ttl;
        break;
      }
      case 'ssrc': {
        if (!/^[0-9A-Fa-f]{1,8}$/.test(value)) return undefined;
        spec.ssrc = parseInt(value, 16);
        break;
      }
      case 'mode':
        spec.mode = unquote(value);
        break;
      case 'destination':
        spec.destination = value;
        break;
      case 'source':
        spec.source = value;
        break;
      default:
        (spec.other ??= []).push([name, value]);
    }
  }
  return spec;
}

/** Parses a Transport header (one or more specs, comma-separated). */
export function parseTransport(value: string): TransportSpec[] | undefined {
  const specs: TransportSpec[] = [];
  for (const part of splitQuoted(value, ',')) {
    const spec = parseTransportSpec(part.trim());
    if (spec === undefined) return undefined;
    specs.push(spec);
  }
  return specs.length === 0 ? undefined : specs;
}

/** Formats one spec or a list of them as a Transport value. */
export function formatTransport(spec: TransportSpec | readonly TransportSpec[]): string {
  if (Array.isArray(spec)) return (spec as readonly TransportSpec[]).map(formatOne).join(',');
  return formatOne(spec as TransportSpec);
}

function formatOne(spec: TransportSpec): string {
  const parts: string[] = [spec.protocol];
  if (spec.delivery !== undefined) parts.push(spec.delivery);
  if (spec.destination !== undefined) {
    parts.push(spec.destination === '' ? 'destination' : `destination=${spec.destination}`);
  }
  if (spec.source !== undefined) parts.push(`source=${spec.source}`);
  if (spec.interleaved !== undefined) parts.push(`interleaved=${formatPair(spec.interleaved)}`);
  if (spec.append === true) parts.push('append');
  if (spec.ttl !== undefined) parts.push(`ttl=${spec.ttl}`);
  if (spec.port !== undefined) parts.push(`port=${formatPair(spec.port)}`);
  if (spec.clientPort !== undefined) parts.push(`client_port=${formatPair(spec.clientPort)}`);
  if (spec.serverPort !== undefined) parts.push(`server_port=${formatPair(spec.serverPort)}`);
  if (spec.ssrc !== undefined) {
    parts.push(`ssrc=${(spec.ssrc >>> 0).toString(16).toUpperCase().padStart(8, '0')}`);
  }
  if (spec.mode !== undefined) parts.push(`mode="${spec.mode}"`);
  for (const [name, value] of spec.other ?? []) {
    parts.push(value === undefined ? name : `${name}=${value}`);
  }
  return parts.join(';');
}

// ---------------------------------------------------------------- Session

export interface SessionHeader {
  id: string;
  timeoutSeconds?: number;
}

const SESSION_ID = /^[A-Za-z0-9$\-_.+]{1,256}$/;

/** `Session: 12345678;timeout=60`. */
export function parseSession(value: string): SessionHeader | undefined {
  const [id = '', ...params] = value.split(';').map((p) => p.trim());
  if (!SESSION_ID.test(id)) return undefined;
  const session: SessionHeader = { id };
  for (const param of params) {
    const match = /^timeout\s*=\s*(\d{1,9})$/i.exec(param);
    if (match !== null) session.timeoutSeconds = Number(match[1]);
    else if (/^timeout\b/i.test(param)) return undefined;
  }
  return session;
}

export function formatSession(session: SessionHeader): string {
  return session.timeoutSeconds === undefined
    ? session.id
    : `${session.id};timeout=${session.timeoutSeconds}`;
}

// ---------------------------------------------------------------- Range

export type RtspRange =
  | { unit: 'npt'; start: number | 'now'; end?: number; time?: string }
  | {
      unit: 'smpte' | 'smpte-30-drop' | 'smpte-25' | 'clock';
      start: string;
      end?: string;
      time?: string;
    };

/** npt-time: `now`, seconds (`12.5`) or hh:mm:ss(.frac). */
function parseNpt(text: string): number | 'now' | undefined {
  if (text === 'now') return 'now';
  let match = /^(\d{1,12})(\.\d{0,9})?$/.exec(text);
  if (match !== null) return Number(text);
  match = /^(\d{1,9}):([0-5]\d):([0-5]\d)(\.\d{0,9})?$/.exec(text);
  if (match === null) return undefined;
  const frac = match[4] === undefined || match[4] === '.' ? 0 : Number(match[4]);
  return Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]) + frac;
}

const SMPTE = /^\d{1,2}:\d{2}:\d{2}(:\d{2}(\.\d{1,2})?)?$/;
const CLOCK = /^\d{8}T\d{6}(\.\d+)?Z$/;

/** `npt=0.000-`, `npt=10-20.5`, `smpte=10:07:00-10:07:33:05.01`, `clock=…Z-…Z`. */
export function parseRange(value: string): RtspRange | undefined {
  const [spec = '', ...params] = value.split(';').map((p) => p.trim());
  let time: string | undefined;
  for (const param of params) {
    const match = /^time=(\d{8}T\d{6}(?:\.\d+)?Z)$/.exec(param);
    if (match?.[1] === undefined) return undefined;
    time = match[1];
  }
  const eq = spec.indexOf('=');
  if (eq === -1) return undefined;
  const unit = spec.slice(0, eq).trim();
  const range = spec.slice(eq + 1).trim();
  const dash = range.indexOf('-');
  if (dash === -1) return undefined;
  const startText = range.slice(0, dash);
  const endText = range.slice(dash + 1);
  if (unit === 'npt') {
    const start = startText === '' ? undefined : parseNpt(startText);
    const end = endText === '' ? undefined : parseNpt(endText);
    if (start === undefined && startText !== '') return undefined;
    if (endText !== '' && (end === undefined || end === 'now')) return undefined;
    if (start === undefined && end === undefined) return undefined;
    const result: RtspRange = { unit, start: start ?? 0 };
    if (typeof end === 'number') result.end = end;
    if (time !== undefined) result.time = time;
    return result;
  }
  if (unit === 'smpte' || unit === 'smpte-30-drop' || unit === 'smpte-25' || unit === 'clock') {
    const pattern = unit === 'clock' ? CLOCK : SMPTE;
    if (!pattern.test(startText) || (endText !== '' && !pattern.test(endText))) return undefined;
    const result: RtspRange = { unit, start: startText };
    if (endText !== '') result.end = endText;
    if (time !== undefined) result.time = time;
    return result;
  }
  return undefined;
}

export function formatRange(range: RtspRange): string {
  const start = typeof range.start === 'number' ? formatNumber(range.start) : range.start;
  const end =
    range.end === undefined
      ? ''
      : typeof range.end === 'number'
        ? formatNumber(range.end)
        : range.end;
  return `${range.unit}=${start}-${end}${range.time === undefined ? '' : `;time=${range.time}`}`;
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? n.toFixed(3) : String(n);
}

// ---------------------------------------------------------------- RTP-Info

export interface RtpInfoEntry {
  url: string;
  seq?: number;
  rtptime?: number;
}

/**
 * `url=rtsp://h/s/trackID=0;seq=45102;rtptime=2718281828,url=…`. A URL may
 * itself contain `;` or `,` (RFC 2326 does not quote it), so streams are split
 * only before `url=`, and `;` parts that are not seq/rtptime/ssrc stay in the URL.
 */
export function parseRtpInfo(value: string): RtpInfoEntry[] | undefined {
  const entries: RtpInfoEntry[] = [];
  for (const stream of value.split(/,\s*(?=url=)/i)) {
    const parts = stream.trim().split(';');
    const head = parts.shift() ?? '';
    if (!/^url=/i.test(head)) return undefined;
    let url = head.slice(4);
    const entry: RtpInfoEntry = { url: '' };
    for (const part of parts) {
      const match = /^\s*(seq|rtptime|ssrc)\s*=\s*(\S*)\s*$/i.exec(part);
      if (match === null) {
        if (entry.seq !== undefined || entry.rtptime !== undefined) return undefined;
        url += `;${part}`;
        continue;
      }
      const key = (match[1] ?? '').toLowerCase();
      const text = match[2] ?? '';
      if (key === 'seq') {
        const seq = parseUint(text, 0xffff);
        if (seq === undefined) return undefined;
        entry.seq = seq;
      } else if (key === 'rtptime') {
        const rtptime = parseUint(text, 0xffffffff);
        if (rtptime === undefined) return undefined;
        entry.rtptime = rtptime;
      }
    }
    entry.url = unquote(url.trim());
    if (entry.url === '') return undefined;
    entries.push(entry);
  }
  return entries;
}

export function formatRtpInfo(entries: readonly RtpInfoEntry[]): string {
  return entries
    .map((entry) => {
      let text = `url=${entry.url}`;
      if (entry.seq !== undefined) text += `;seq=${entry.seq}`;
      if (entry.rtptime !== undefined) text += `;rtptime=${entry.rtptime}`;
      return text;
    })
    .join(',');
}
