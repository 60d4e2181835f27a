/**
 * The libsrtp2 addon (native/srtp/srtp_addon.c), loaded once per thread on
 * first use. Its functions, as the C file documents them.
 */
import { addonLoader } from '../../shared/native-addon.js';

/**
 * A libsrtp context (four libsrtp sessions, RTP/RTCP and send/receive, for
 * one key) as the function that runs it, bound to it in C so that a packet
 * pays for no handle lookup: handle(op, input, work, expected) is the new
 * length of the packet now in `work`, or a negative code: -(srtp_err_status_t)
 * or one of libsrtpCode. Freed when the function is collected.
 */
export type LibsrtpHandle = ((
  op: LibsrtpOp,
  input: Buffer,
  work: Buffer,
  expected: number,
) => number) & { readonly __libsrtpHandle: unique symbol };

export interface LibsrtpAddon {
  /** `profile` is libsrtp's srtp_profile_t; throws on bad arguments. */
  create(
    profile: number,
    keyAndSalt: Buffer,
    rtpReceiveWindow: number,
    rtpSendWindow: number,
    mki: Buffer | undefined,
  ): LibsrtpHandle;
  /** Forgets one SSRC's state of one kind (ssrcStateKind); false when it had none. */
  removeStream(handle: LibsrtpHandle, kind: number, ssrc: number): boolean;
  version(): string;
  /**
   * Whose AES (CM, GCM) and HMAC-SHA1 libsrtp runs: "openssl" (node's OpenSSL,
   * native/srtp/openssl_crypto.c), or "libsrtp (why)" for its own (NSS in
   * Debian's build). Process-wide, settled by the first call into the addon.
   */
  crypto(): string;
  /** Contexts created and not yet freed by their finalizer, in the whole process. */
  liveContexts(): number;
}

/** transform()'s operations. */
export const libsrtpOp = {
  protectRtp: 0,
  unprotectRtp: 1,
  protectRtcp: 2,
  unprotectRtcp: 3,
} as const;
export type LibsrtpOp = (typeof libsrtpOp)[keyof typeof libsrtpOp];

/** transform()'s negative results: libsrtp's own (negated) and the addon's checks. */
export const libsrtpCode = {
  badParam: -2,
  authFail: -7,
  replayFail: -9,
  replayOld: -10,
  keyExpired: -15,
  parseErr: -21,
  badMki: -25,
  tooShort: -101,
  badHeader: -102,
  mkiMismatch: -103,
  noRoom: -104,
  diverged: -105,
  noSession: -106,
} as const;

/** Relative to this file in src/ and in dist/src/ alike. */
const ADDON_PATHS = [
  '../../../native/srtp/build/Release/srtp.node',
  '../../../../native/srtp/build/Release/srtp.node',
];

/** The addon, or why it cannot be loaded (not built, libsrtp2 missing, wrong ABI...). */
export const loadLibsrtpAddon = addonLoader<LibsrtpAddon>(import.meta.url, ADDON_PATHS);
