/**
 * The rollover counter (ROC): RFC 3711 §3.3.1. The 48-bit packet index is
 * ROC * 2^16 + SEQ; only SEQ travels, so both ends keep the ROC per SSRC and
 * estimate it for each packet from the highest index seen so far (Appendix A).
 * Indices are plain numbers: 2^48 is well inside Number.MAX_SAFE_INTEGER.
 */

const seqModulus = 0x1_0000;
const halfSeqSpace = 0x8000;
/** RFC 3711 §3.3.1: a master key protects at most 2^48 SRTP packets. */
export const maxPacketIndex = 2 ** 48 - 1;

/**
 * RFC 3711 Appendix A: the index v * 2^16 + SEQ closest to `highest`, with v in
 * {ROC - 1, ROC, ROC + 1}. A guess of ROC - 1 while ROC is 0 is taken as ROC 0,
 * as libsrtp does (srtp_rdbx_estimate_index): no packet has a negative index.
 *
 * Senders use the same estimate, so a relay forwarding packets reordered
 * around a wrap gives each the index its receiver will compute.
 */
export function estimatePacketIndex(highest: number, seq: number): number {
  const roc = Math.floor(highest / seqModulus);
  const highestSeq = highest - roc * seqModulus;
  let v = roc;
  if (highestSeq < halfSeqSpace) {
    if (seq - highestSeq > halfSeqSpace && roc > 0) v = roc - 1;
  } else if (highestSeq - halfSeqSpace > seq) {
    v = roc + 1;
  }
  return v * seqModulus + seq;
}

export function rolloverCounter(index: number): number {
  return Math.floor(index / seqModulus);
}
