/**
 * Why a camera could not be pulled into the SFU, one class per failure with
 * a stable `code`. Messages name the path and the RTSP proxy's address
 * without credentials: they reach WHEP clients and logs.
 */
import { StreammeshError } from '../../src/shared/errors.js';

export type CameraPullErrorCode =
  /** The proxy could not be reached, or refused or broke the RTSP exchange. */
  | 'ERR_CAMERA_PULL'
  /** The camera's SDP has no H.264 video track. */
  | 'ERR_CAMERA_NO_H264'
  /** H.264, but in a form browsers cannot take (profile, packetization mode). */
  | 'ERR_CAMERA_UNSUPPORTED'
  /** The pull was lost while being set up (its mediasoup worker died). */
  | 'ERR_CAMERA_LOST'
  | 'ERR_CAMERA_HUB_CLOSED';

export class CameraPullError extends StreammeshError {
  declare readonly code: CameraPullErrorCode;

  // Not useless: it narrows `code` to this class's codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: CameraPullErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
