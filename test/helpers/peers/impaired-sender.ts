/**
 * A synthetic RTP stream with loss and jitter we choose, so the loss and
 * jitter a proxy reports can be checked against what was done to the flow
 * and against tshark watching the same packets.
 *
 * - Loss: exactly round(count * lossPercent / 100) sequence numbers are
 *   never sent, chosen by a seeded PRNG, never the first or the last packet
 *   (a receiver can only see a gap between two packets it got).
 * - Jitter: packet i is due at start + i * ptime (its RTP timestamp advances
 *   by clockRate * ptime regardless) and is sent late by a seeded uniform
 *   delay in [0, jitterMs]. Sends keep sequence order, so there is no
 *   reordering. For independent delays, RFC 3550's interarrival jitter
 *   converges to about E|D_i - D_{i-1}| = jitterMs / 3 (a little less, as
 *   keeping the order evens out some delays: ~0.3 x jitterMs seen here).
 *
 * Bounded: at most 100 000 packets, and it stops at `maxDurationMs`.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

export interface ImpairedSendOptions {
  readonly port: number;
  readonly host?: string;
  /** Source port (so a relay can latch onto it); default: any. */
  readonly localPort?: number;
  readonly count: number;
  /** Default 0 (PCMU). */
  readonly payloadType?: number;
  /** Default 8000 (PCMU/PCMA); 90000 for video. */
  readonly clockRate?: number;
  /** Packet interval; default 20 ms. */
  readonly ptimeMs?: number;
  /** RTP payload size; default 160 (20 ms of G.711). */
  readonly payloadBytes?: number;
  readonly ssrc?: number;
  readonly firstSequence?: number;
  readonly firstTimestamp?: number;
  readonly lossPercent?: number;
  readonly jitterMs?: number;
  readonly seed?: number;
  /** Hard bound; default: count * ptime + 5 s. */
  readonly maxDurationMs?: number;
}

export interface ImpairedSendResult {
  /** Packets put on the wire. */
  readonly sent: number;
  /** Sends the kernel refused (not counted in `sent`); expect 0. */
  readonly sendErrors: number;
  /** Sequence numbers deliberately not sent (16-bit, in order). */
  readonly droppedSequences: readonly number[];
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly ssrc: number;
  /** dropped / count * 100. */
  readonly lossPercent: number;
  /** What RFC 3550 jitter should settle near for the chosen delays, in ms. */
  readonly expectedJitterMs: number;
  readonly durationMs: number;
  /** True when it stopped at maxDurationMs before sending everything. */
  readonly truncated: boolean;
}

const MAX_PACKETS = 100_000;

export async function sendImpaired(options: ImpairedSendOptions): Promise<ImpairedSendResult> {
  const {
    count,
    payloadType = 0,
    clockRate = 8000,
    ptimeMs = 20,
    payloadBytes = 160,
    lossPercent = 0,
    jitterMs = 0,
    seed = 1,
  } = options;
  if (!Number.isInteger(count) || count < 2 || count > MAX_PACKETS) {
    throw new RangeError(`count must be an integer in [2, ${MAX_PACKETS}]`);
  }
  if (lossPercent < 0 || lossPercent >= 100)
    throw new RangeError('lossPercent must be in [0, 100)');
  const random = mulberry32(seed);
  const ssrc = (options.ssrc ?? 0x5eed0001) >>> 0;
  const firstSequence = (options.firstSequence ?? Math.floor(random() * 0x10000)) & 0xffff;
  const firstTimestamp = (options.firstTimestamp ?? Math.floor(random() * 2 ** 32)) >>> 0;
  const dropped = chooseDrops(count, Math.round((count * lossPercent) / 100), random);
  const delays = Array.from({ length: count }, () => random() * jitterMs);
  const timestampStep = Math.round((clockRate * ptimeMs) / 1000);
  const maxDurationMs = options.maxDurationMs ?? count * ptimeMs + 5_000;

  // Not connected: on a connected socket an ICMP port unreachable (nobody
  // listening yet) fails the next send, which would be loss we did not choose.
  const socket = createSocket('udp4');
  socket.bind(options.localPort ?? 0, '127.0.0.1');
  await once(socket, 'listening');
  const host = options.host ?? '127.0.0.1';
  let sendErrors = 0;
  const onSent = (error: Error | null): void => {
    if (error !== null) sendErrors++;
  };

  const payload = Buffer.alloc(payloadBytes, 0xd5); // PCMU/PCMA-ish silence
  const start = performance.now();
  let sent = 0;
  let lastSendAt = start;
  let truncated = false;
  try {
    for (let i = 0; i < count; i++) {
      const dueAt = Math.max(start + i * ptimeMs + (delays[i] ?? 0), lastSendAt);
      const wait = dueAt - performance.now();
      if (wait > 0.5) await new Promise((resolve) => setTimeout(resolve, wait));
      if (performance.now() - start > maxDurationMs) {
        truncated = true;
        break;
      }
      lastSendAt = dueAt;
      if (dropped.has(i)) continue;
      const header = Buffer.alloc(12);
      header[0] = 0x80;
      header[1] = (payloadType & 0x7f) | (i === 0 ? 0x80 : 0);
      header.writeUInt16BE((firstSequence + i) & 0xffff, 2);
      header.writeUInt32BE((firstTimestamp + i * timestampStep) >>> 0, 4);
      header.writeUInt32BE(ssrc, 8);
      socket.send(Buffer.concat([header, payload]), options.port, host, onSent);
      sent++;
    }
  } finally {
    // Let the last sends leave before closing the socket.
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.close();
  }
  return {
    sent: sent - sendErrors,
    sendErrors,
    droppedSequences: [...dropped].sort((a, b) => a - b).map((i) => (firstSequence + i) & 0xffff),
    firstSequence,
    lastSequence: (firstSequence + count - 1) & 0xffff,
    ssrc,
    lossPercent: (dropped.size / count) * 100,
    expectedJitterMs: jitterMs / 3,
    durationMs: performance.now() - start,
    truncated,
  };
}

/** `drops` distinct packet indexes in [1, count - 2]: a partial Fisher-Yates shuffle. */
function chooseDrops(count: number, drops: number, random: () => number): Set<number> {
  const candidates = Array.from({ length: count - 2 }, (_, i) => i + 1);
  const chosen = new Set<number>();
  for (let k = 0; k < Math.min(drops, candidates.length); k++) {
    const j = k + Math.floor(random() * (candidates.length - k));
    const picked = candidates[j] ?? 0;
    candidates[j] = candidates[k] ?? 0;
    candidates[k] = picked;
    chosen.add(picked);
  }
  return chosen;
}

/** A small seeded PRNG (mulberry32): same seed, same drops and delays. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
