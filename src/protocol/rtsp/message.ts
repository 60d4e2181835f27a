/**
 * RTSP messages (RFC 2326 §6, §7) and interleaved binary data (§10.12), and
 * their serializers.
 *
 *   Request-Line = Method SP Request-URI SP RTSP-Version CRLF
 *   Status-Line  = RTSP-Version SP Status-Code SP Reason-Phrase CRLF
 *
 *   Interleaved frame:
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  '$' (0x24)   |    channel    |        length (bytes)         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                        payload ...                            |
 *
 * Header text is latin1 on both sides, so every byte round-trips.
 */
import { StreammeshError } from '../../shared/errors.js';
import { isToken, RtspHeaders } from './headers.js';

export type RtspVersion = 'RTSP/1.0' | 'RTSP/2.0';

export interface RtspRequest {
  method: string;
  url: string;
  version: RtspVersion;
  headers: RtspHeaders;
  body: Buffer;
}

export interface RtspResponse {
  version: RtspVersion;
  status: number;
  reason: string;
  headers: RtspHeaders;
  body: Buffer;
}

export const INTERLEAVED_MAGIC = 0x24;
export const MAX_INTERLEAVED_PAYLOAD = 0xffff;

/** Thrown by the serializers when given a message that cannot be put on the wire safely. */
export class RtspSerializeError extends StreammeshError {
  constructor(message: string) {
    super('ERR_RTSP_SERIALIZE', message);
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const VALUE_CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

function headerLines(headers: RtspHeaders, body: Buffer): string {
  let text = '';
  for (const [name, value] of headers) {
    if (name.toLowerCase() === 'content-length') continue;
    if (!isToken(name)) throw new RtspSerializeError(`header name ${JSON.stringify(name)}`);
    if (VALUE_CONTROL.test(value)) {
      throw new RtspSerializeError(`control character in header ${name}`);
    }
    text += `${name}: ${value}\r\n`;
  }
  if (body.length > 0) text += `Content-Length: ${body.length}\r\n`;
  return text + '\r\n';
}

/**
 * The request's bytes. Content-Length is written from the body (present only
 * when the body is not empty); any Content-Length in `headers` is ignored.
 */
export function serializeRequest(request: RtspRequest): Buffer {
  if (!isToken(request.method)) throw new RtspSerializeError(`method ${request.method}`);
  if (request.url === '' || CONTROL.test(request.url) || request.url.includes(' ')) {
    throw new RtspSerializeError('request URL is empty or has a space or control character');
  }
  const head = `${request.method} ${request.url} ${request.version}\r\n`;
  return Buffer.concat([
    Buffer.from(head + headerLines(request.headers, request.body), 'latin1'),
    request.body,
  ]);
}

/** The response's bytes; Content-Length as for `serializeRequest`. */
export function serializeResponse(response: RtspResponse): Buffer {
  if (!Number.isInteger(response.status) || response.status < 100 || response.status > 999) {
    throw new RtspSerializeError(`status ${response.status}`);
  }
  if (VALUE_CONTROL.test(response.reason)) throw new RtspSerializeError('control in reason');
  const head = `${response.version} ${response.status} ${response.reason}\r\n`;
  return Buffer.concat([
    Buffer.from(head + headerLines(response.headers, response.body), 'latin1'),
    response.body,
  ]);
}

/** A `$`-framed interleaved data frame (RFC 2326 §10.12). */
export function interleavedFrame(channel: number, payload: Buffer): Buffer {
  if (!Number.isInteger(channel) || channel < 0 || channel > 255) {
    throw new RtspSerializeError(`interleaved channel ${channel}`);
  }
  if (payload.length > MAX_INTERLEAVED_PAYLOAD) {
    throw new RtspSerializeError(`interleaved payload of ${payload.length} bytes`);
  }
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame[0] = INTERLEAVED_MAGIC;
  frame[1] = channel;
  frame.writeUInt16BE(payload.length, 2);
  payload.copy(frame, 4);
  return frame;
}
