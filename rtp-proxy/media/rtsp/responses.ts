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

const EMPTY = Buffer.alloc(0);
