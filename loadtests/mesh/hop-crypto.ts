/**
 * What a proxy-to-proxy hop's SRTP costs per packet, on node:crypto: protect
 * plus unprotect, AEAD_AES_128_GCM (the hop default) against
 * AES_CM_128_HMAC_SHA1_80, for 200- and 1200-byte RTP packets. Two layers:
 *
 * - `srtp`: SrtpSession alone (src/protocol/srtp), no MKI;
 * - `hop`:  HopSender -> HopReceiver (src/media/hop): the epoch MKI, the key
 *           lookup by MKI and RFC 3550 measurement on both ends.
 *
 * All in this process, one core: per case `packets` packets (the first tenth
 * a warm-up, not counted), `runs` runs interleaved over the cases, medians. Run: `node dist/loadtests/mesh/hop-crypto.js
 * [runs] [packets]` (defaults 5, 50000). Table on stdout, then one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { HopReceiver, HopSender } from '../../src/media/hop/index.js';
import {
  generateHopKey,
  generateKeyingMaterial,
  SrtpSession,
  type SrtpProfile,
} from '../../src/protocol/srtp/index.js';
import { int, log, runBench } from '../common/cli.js';
import { median, round } from '../rtp/stats.js';

const profiles: readonly SrtpProfile[] = ['AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80'];
const sizes = [200, 1200] as const;
const layers = ['srtp', 'hop'] as const;
type Layer = (typeof layers)[number];

interface Case {
  readonly layer: Layer;
  readonly profile: SrtpProfile;
  readonly size: number;
}

interface CaseResult extends Case {
  /** Medians over runs, microseconds per packet. */
  readonly protectUs: number;
  readonly unprotectUs: number;
  readonly totalUs: number;
  /** Packets per second one core protects and unprotects (1e6 / totalUs). */
  readonly packetsPerSecond: number;
}

/** RTP packets of `size` bytes, 12-byte header, sequence from 0. */
function packets(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, (_, seq) => {
    const packet = Buffer.alloc(size, 0x42);
    packet.writeUInt8(0x80, 0);
    packet.writeUInt8(96, 1);
    packet.writeUInt16BE(seq & 0xffff, 2);
    packet.writeUInt32BE(seq * 3000, 4);
    packet.writeUInt32BE(0x1234_5678, 8);
    return packet;
  });
}

interface Ends {
  protect(plain: Buffer): Buffer;
  unprotect(packet: Buffer): boolean;
}

function ends(layer: Layer, profile: SrtpProfile): Ends {
  if (layer === 'srtp') {
    const keys = generateKeyingMaterial(profile);
    const sender = new SrtpSession(keys);
    const receiver = new SrtpSession(keys);
    return {
      protect(plain) {
        const result = sender.protectRtp(plain);
        if (!result.ok) throw new Error(`protect: ${result.reason}`);
        return result.packet;
      },
      unprotect: (packet) => receiver.unprotectRtp(packet).ok,
    };
  }
  const key = generateHopKey({ hopId: 'bench', epoch: 1, profile, notAfter: Date.now() + 3.6e6 });
  const sender = new HopSender({ key });
  const receiver = new HopReceiver({ hopId: 'bench' });
  receiver.install(key);
  let now = 0;
  return {
    protect(plain) {
      const result = sender.protectRtp(plain, now);
      if (!result.ok) throw new Error(`protect: ${result.reason}`);
      return result.packet;
    },
    unprotect(packet) {
      now += 0.02;
      return receiver.receive(packet, now).ok;
    },
  };
}

/** One run: protect all, then unprotect all, each timed as a whole. */
function runOnce(testCase: Case, count: number): { protectUs: number; unprotectUs: number } {
  const plain = packets(count, testCase.size);
  const hop = ends(testCase.layer, testCase.profile);
  // Warm-up on the first tenth, excluded (JIT, cipher setup); the rest is measured.
  const warm = Math.floor(count / 10);
  const protectedPackets: Buffer[] = new Array<Buffer>(count);
  for (let i = 0; i < warm; i++) protectedPackets[i] = hop.protect(plain[i] as Buffer);
  for (let i = 0; i < warm; i++) hop.unprotect(protectedPackets[i] as Buffer);
  let start = performance.now();
  for (let i = warm; i < count; i++) protectedPackets[i] = hop.protect(plain[i] as Buffer);
  const protectMs = performance.now() - start;
  start = performance.now();
  let accepted = 0;
  for (let i = warm; i < count; i++) if (hop.unprotect(protectedPackets[i] as Buffer)) accepted++;
  const unprotectMs = performance.now() - start;
  if (accepted !== count - warm) throw new Error(`only ${accepted} of ${count - warm} unprotected`);
  const measured = count - warm;
  return { protectUs: (protectMs * 1000) / measured, unprotectUs: (unprotectMs * 1000) / measured };
}

/** Medians of a case's runs. */
function summarize(testCase: Case, protect: number[], unprotect: number[]): CaseResult {
  const protectUs = median(protect);
  const unprotectUs = median(unprotect);
  const totalUs = protectUs + unprotectUs;
  return {
    ...testCase,
    protectUs: round(protectUs, 2),
    unprotectUs: round(unprotectUs, 2),
    totalUs: round(totalUs, 2),
    packetsPerSecond: Math.round(1e6 / totalUs),
  };
}

async function main(): Promise<void> {
  const runs = int(process.argv[2], 5, 1, 50);
  const count = int(process.argv[3], 50_000, 1000, 1_000_000);
  log(`hop-crypto: ${runs} runs x ${count} packets per case, node ${process.version}`);
  const cases: Case[] = layers.flatMap((layer) =>
    profiles.flatMap((profile) => sizes.map((size) => ({ layer, profile, size }))),
  );
  const protect = cases.map((): number[] => []);
  const unprotect = cases.map((): number[] => []);
  // Runs interleave the cases, so that a burst of load from elsewhere on a
  // shared machine falls on every case alike rather than on one.
  for (let run = 0; run < runs; run++) {
    cases.forEach((testCase, i) => {
      const result = runOnce(testCase, count);
      protect[i]?.push(result.protectUs);
      unprotect[i]?.push(result.unprotectUs);
    });
    log(`  run ${run + 1} of ${runs} done`);
  }
  const results = cases.map((testCase, i) =>
    summarize(testCase, protect[i] ?? [], unprotect[i] ?? []),
  );
  const rows = results.map(
    (r) =>
      `| ${r.layer} | ${r.profile} | ${r.size} | ${r.protectUs} | ${r.unprotectUs} | ${r.totalUs} | ${r.packetsPerSecond} |`,
  );
  process.stdout.write(
    [
      '| layer | profile | bytes | protect µs | unprotect µs | protect+unprotect µs | packets/s (one core) |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      JSON.stringify({ benchmark: 'hop-crypto', runs, packets: count, results }),
      '',
    ].join('\n'),
  );
  await Promise.resolve();
}

await runBench('hop-crypto', main, { message: 'nothing to clean up' });
