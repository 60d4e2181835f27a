/**
 * The RTCP the relay sends about the streams it receives: receiver reports,
 * to be sent in one compound with an SDES CNAME (RFC 3550 §6.1):
 *
 *   buildReceiverReport(ssrc, blocks) ++ buildSdesCname(ssrc, cname)
 */
import { ReceiverReport } from './receiver-report.js';
import type { ReportBlockFields } from './report-block.js';
import { SourceDescription } from './source-description.js';

/** RC is 5 bits: at most 31 report blocks in one RR. */
export const MAX_REPORT_BLOCKS = 31;

/**
 * RR packets from `senderSsrc` carrying `blocks`. With more than 31 blocks,
 * further RR packets follow in the same buffer (RFC 3550 §6.4.2); with none,
 * one empty RR (what a receiver sends when it has nothing to report).
 * Throws RangeError for a field out of range (cumulative loss is clamped).
 */
export function buildReceiverReport(
  senderSsrc: number,
  blocks: readonly ReportBlockFields[],
): Buffer {
  const packets: Buffer[] = [];
  let start = 0;
  do {
    const reports = blocks.slice(start, start + MAX_REPORT_BLOCKS);
    packets.push(new ReceiverReport({ ssrc: senderSsrc, reports }).serialize());
    start += MAX_REPORT_BLOCKS;
  } while (start < blocks.length);
  return Buffer.concat(packets);
}

/**
 * An SDES packet with one chunk for `ssrc` holding its CNAME (UTF-8, at most
 * 255 bytes; RangeError otherwise).
 */
export function buildSdesCname(ssrc: number, cname: string): Buffer {
  return SourceDescription.cname(ssrc, cname).serialize();
}
