/**
 * Why pulling a camera failed, one class per failure with a stable `code`.
 * Each message is what /streams shows as the source's lastError, so it is
 * written for a person and never carries credentials.
 */
import { StreammeshError } from '../../shared/errors.js';

/** Base class: every failure of a camera session is one of these. */
export class CameraError extends StreammeshError {}

/** The TCP connection to the camera could not be opened. */
export class CameraConnectError extends CameraError {
  constructor(address: string, cause: string) {
    super('ERR_CAMERA_CONNECT', `cannot connect to the camera at ${address}: ${cause}`);
  }
}

/** Socket errors a viewer's reason header should say in words (the errno stays, for searching). */
const SOCKET_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
};

/** "connection refused (ECONNREFUSED)" rather than node's "connect ECONNREFUSED 10.0.0.5:554". */
export function describeSocketError(error: Error & { code?: unknown }): string {
  const code = typeof error.code === 'string' ? error.code : undefined;
  const words = code === undefined ? undefined : SOCKET_ERRORS[code];
  return words === undefined ? error.message : `${words} (${code})`;
}

/** The camera did not answer in time (TCP connect or one request). */
export class CameraTimeoutError extends CameraError {
  constructor(what: string, ms: number) {
    super('ERR_CAMERA_TIMEOUT', `camera did not answer ${what} within ${ms} ms`);
  }
}

/** The camera (or the network) closed the RTSP connection. */
export class CameraClosedError extends CameraError {
  constructor(cause?: string) {
    super(
      'ERR_CAMERA_CLOSED',
      cause === undefined
        ? 'camera closed the RTSP connection'
        : `RTSP connection to the camera failed: ${cause}`,
    );
  }
}

/** A request was answered with a status other than 2xx (and not an auth challenge we could meet). */
export class CameraStatusError extends CameraError {
  readonly status: number;

  constructor(method: string, status: number, reason: string) {
    // The reason phrase is the camera's text: keep /streams readable.
    const phrase = reason.slice(0, 80);
    super('ERR_CAMERA_STATUS', `camera answered ${method} with ${status} ${phrase}`.trimEnd());
    this.status = status;
  }
}

/** 401 that credentials cannot fix: none given, a second 401, or a challenge we cannot answer. */
export class CameraAuthError extends CameraError {
  constructor(message: string) {
    super('ERR_CAMERA_AUTH', message);
  }
}

/** Bytes that are not acceptable RTSP, SDP or transport parameters. */
export class CameraProtocolError extends CameraError {
  constructor(message: string) {
    super('ERR_CAMERA_PROTOCOL', message);
  }
}

/** A playing session stopped bringing RTP. */
export class CameraStalledError extends CameraError {
  constructor(ms: number) {
    super('ERR_CAMERA_STALLED', `no RTP from the camera for ${ms} ms`);
  }
}

/** Transport 'auto': UDP does not work with this camera (461, or no RTP over UDP). */
export class CameraUdpUnusableError extends CameraError {
  constructor(why: string) {
    super('ERR_CAMERA_UDP_UNUSABLE', `UDP from the camera does not work (${why}); using TCP`);
  }
}
