/**
 * One DESCRIBE of a path on the RTSP proxy, before anything is built for it:
 * it tells an unknown path (404: the WHEP viewer gets "not found") from a
 * camera that cannot be pulled (an error the viewer is told), and gives the
 * SDP the Router is built from. The camera source that then plays the path
 * retries forever by design, so it could not say either.
 *
 * No session is created: the connection closes right after the answer.
 */
import { parseSdp, type Sdp } from '../../src/protocol/sdp/index.js';
import type { Logger } from '../../src/shared/log.js';
import {
  CameraProtocolError,
  CameraStatusError,
  RtspClientConnection,
  type CameraAddress,
} from '../../src/media/rtsp-client/index.js';

const NOT_FOUND = 404;

/** The path's SDP, or undefined when the proxy has no such path; throws a CameraError. */
export async function describeCamera(
  address: CameraAddress,
  timeoutMs: number,
  log: Logger,
): Promise<Sdp | undefined> {
  const connection = new RtspClientConnection({
    host: address.host,
    port: address.port,
    credentials: address.credentials,
    timeoutMs,
    log,
    // Nothing is set up, so no media can legitimately arrive; a failure
    // also rejects the request in flight, which reports it.
    onInterleaved: () => undefined,
    onClose: () => undefined,
  });
  try {
    await connection.connect();
    const response = await connection.request('DESCRIBE', address.url, {
      Accept: 'application/sdp',
    });
    if (response.status === NOT_FOUND) return undefined;
    if (response.status < 200 || response.status >= 300) {
      throw new CameraStatusError('DESCRIBE', response.status, response.reason);
    }
    const parsed = parseSdp(response.body.toString('utf8'));
    if (!parsed.ok) throw new CameraProtocolError(`invalid SDP (${parsed.reason})`);
    return parsed.sdp;
  } finally {
    connection.close();
  }
}
