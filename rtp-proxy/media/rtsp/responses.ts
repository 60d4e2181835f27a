/** Building RTSP answers: CSeq echoed (RFC 2326 §12.17), Server named, Session kept. */
import {
  RtspHeaders,
  type RtspRequest,
  type RtspResponse,
} from '../../../src/protocol/rtsp/index.js';
import { statusText } from './connection.js';

export const SERVER_NAME = 'streammesh';

export function reply(
  request: RtspRequest,
  status: number,
  headers: readonly (readonly [string, string])[] = [],
  body: Buffer = EMPTY,
): RtspResponse {
  const out = new RtspHeaders();
  const cseq = request.headers.get('CSeq');
  if (cseq !== undefined) out.set('CSeq', cseq);
  out.set('Server', SERVER_NAME);
  for (const [name, value] of headers) out.append(name, value);
  return { version: 'RTSP/1.0', status, reason: statusText(status), headers: out, body };
}

/**
 * Why a path cannot be played, for the viewer: an extension header (RFC 2326
 * §12: a client ignores headers it does not know), since the status alone
 * cannot tell "wrong camera password" from "camera unplugged".
 */
export const REASON_HEADER = 'X-Streammesh-Reason';

/** Longest reason sent: a camera's own reason phrase is part of some reasons. */
const MAX_REASON_LENGTH = 200;

export function reasonHeader(reason: string): readonly [string, string] {
  // One header line: control characters (a camera's text) would end it early.
  const oneLine = reason.replace(/\p{Cc}+/gu, ' ').trim();
  return [REASON_HEADER, oneLine.slice(0, MAX_REASON_LENGTH)];
}

const EMPTY = Buffer.alloc(0);
