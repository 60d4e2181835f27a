/**
 * The one error the SDP module throws. Every problem with a remote
 * description, from a missing `v=0` to a codec the SFU cannot take, is an
 * SdpError with a stable code and a message a person can act on; nothing
 * from sdp-transform or from a property read on a malformed value escapes.
 */
import { StreammeshError } from '../../src/shared/errors.js';

export const sdpErrorCodes = [
  /** Not SDP at all: empty, too large, a line that is not `x=...`, a bad number. */
  'sdp_syntax',
  /** No usable m= section. */
  'sdp_no_media',
  /** A bundled m-section without ICE credentials, or malformed ones. */
  'sdp_bad_ice',
  /** No DTLS fingerprint, or a malformed fingerprint or setup role. */
  'sdp_bad_dtls',
  /** An m-section without a=mid, or a mid used twice. */
  'sdp_bad_mid',
  /** An m-section offers no codec the SFU's router supports. */
  'sdp_no_codec',
  /** A media sender without an SSRC to receive it by. */
  'sdp_no_ssrc',
  /** Valid SDP asking for something not supported yet (simulcast). */
  'sdp_unsupported',
] as const;
export type SdpErrorCode = (typeof sdpErrorCodes)[number];

export class SdpError extends StreammeshError {
  declare readonly code: SdpErrorCode;

  // Not useless: it narrows `code` to the SDP codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: SdpErrorCode, message: string) {
    super(code, message);
  }
}
