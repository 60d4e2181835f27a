/**
 * What SRTP costs per packet on each engine (issue 20, point 2): libsrtp2
 * through native/srtp against node:crypto, for the four profiles, 200- and
 * 1200-byte RTP packets, protect and unprotect, one core. libsrtp runs twice:
 * `libsrtp` with the AES and HMAC-SHA1 the proxy gives it (OpenSSL's,
 * native/srtp/openssl_crypto.c), in this process, and `libsrtp-nss` with its
 * own (NSS in Debian's build), in a child started with
 * STREAMMESH_PROXY_SRTP_CRYPTO=libsrtp since the choice is process-wide.
 * `c-libsrtp` is the floor: libsrtp with the OpenSSL primitives called from
 * C in a loop (libsrtp-alone.c), no JavaScript, N-API or session
 * bookkeeping; what `libsrtp` costs above it is the engine's wrapper.
 *
 * Per case: packets/s over `seconds` (after a warm-up of a tenth of it), and
 * the garbage collections seen meanwhile (perf_hooks 'gc' entries: count,
 * total and longest pause), since GC of per-packet cipher and HMAC objects
 * set the relay's SRTP p99 latency on node:crypto. Cases run interleaved over
 * `runs` runs; figures are medians. Unprotect reads a ring of 4,096 packets
 * protected beforehand (distinct indices: the replay window drops repeats),
 * with a new receiving session each time round the ring (its cost counted).
 *
 *   npm run bench:srtp [-- --seconds 2 --runs 3 --quick]
 *
 * Writes loadtests/results/srtp-engines.json (and a table on stdout).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createSrtpSession,
  generateKeyingMaterial,
  srtpProfiles,
  type SrtpContext,
  type SrtpEngineName,
  type SrtpKeyingMaterial,
  type SrtpProfile,
} from '../../src/protocol/srtp/index.js';
import { loadLibsrtpAddon } from '../../src/protocol/srtp/libsrtp-addon.js';
import { int, log, runBench } from '../common/cli.js';
import { buildC } from '../rtp/c-build.js';
import { formattedJson } from '../rtp/report.js';
import { median, round } from '../rtp/stats.js';

/**
 * libsrtp-nss: the libsrtp engine with libsrtp's own primitives, in the
 * child. c-libsrtp: libsrtp-alone.c.
 */
type BenchEngine = SrtpEngineName | 'libsrtp-nss' | 'c-libsrtp';
const engines: readonly BenchEngine[] = ['node', 'libsrtp', 'libsrtp-nss', 'c-libsrtp'];
const sizes = [200, 1200] as const;
const operations = ['protect', 'unprotect'] as const;
type Operation = (typeof operations)[number];
const ringSize = 4096;

interface Case {
  readonly engine: BenchEngine;
  readonly profile: SrtpProfile;
  readonly size: number;
  readonly operation: Operation;
}

interface Sample {
  readonly packetsPerSecond: number;
  readonly gcCount: number;
  readonly gcTotalMs: number;
  readonly gcMaxMs: number;
}

interface CaseResult extends Case, Sample {
  readonly nsPerPacket: number;
}

/** An RTP packet of `size` bytes (12-byte header), SSRC 0x5eed. */
function rtp(size: number, seq: number): Buffer {
  const packet = Buffer.alloc(size, 0xa5);
  packet.writeUInt8(0x80, 0);
  packet.writeUInt8(96, 1);
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE(seq * 160, 4);
  packet.writeUInt32BE(0x5eed, 8);
  return packet;
}

/**
 * Garbage collections by time: perf_hooks delivers 'gc' entries some time
 * after they happen, so each is kept with its start time and read for a
 * case's window once they have arrived.
 */
class GcWatch {
  readonly #entries: { start: number; duration: number }[] = [];
  readonly #observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      this.#entries.push({ start: entry.startTime, duration: entry.duration });
    }
  });

  constructor() {
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  async between(
    from: number,
    to: number,
  ): Promise<{ count: number; totalMs: number; maxMs: number }> {
    await new Promise((resolve) => setTimeout(resolve, 150));
    let count = 0;
    let totalMs = 0;
    let maxMs = 0;
    for (const entry of this.#entries) {
      if (entry.start < from || entry.start > to) continue;
      count++;
      totalMs += entry.duration;
      maxMs = Math.max(maxMs, entry.duration);
    }
    this.#entries.length = 0;
    return { count, totalMs, maxMs };
  }

  close(): void {
    this.#observer.disconnect();
  }
}

/** Runs `step` for `seconds` (after a warm-up); packets per second, and the measured window. */
function timed(
  seconds: number,
  step: () => void,
): { packetsPerSecond: number; start: number; end: number } {
  const warmUpEnd = performance.now() + seconds * 100;
  while (performance.now() < warmUpEnd) for (let i = 0; i < 64; i++) step();
  let packets = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 256; i++) step();
    packets += 256;
    now = performance.now();
  }
  return { packetsPerSecond: packets / ((now - start) / 1000), start, end: now };
}

function protectStep(session: SrtpContext, size: number): () => void {
  const plain = rtp(size, 0);
  let seq = 0;
  return () => {
    seq = (seq + 1) & 0xffff;
    plain.writeUInt16BE(seq, 2);
    const result = session.protectRtp(plain);
    if (!result.ok) throw new Error(`protect failed: ${result.reason}`);
  };
}

function unprotectStep(keys: SrtpKeyingMaterial, engine: SrtpEngineName, size: number): () => void {
  const sender = createSrtpSession(keys, {}, 'node');
  const ring = Array.from({ length: ringSize }, (_, seq) => {
    const result = sender.protectRtp(rtp(size, seq));
    if (!result.ok) throw new Error(`protect failed: ${result.reason}`);
    return Buffer.from(result.packet);
  });
  let receiver = createSrtpSession(keys, {}, engine);
  let at = 0;
  return () => {
    if (at === ringSize) {
      receiver = createSrtpSession(keys, {}, engine);
      at = 0;
    }
    const result = receiver.unprotectRtp(ring[at] ?? Buffer.alloc(0));
    at++;
    if (!result.ok) throw new Error(`unprotect failed: ${result.reason}`);
  };
}

async function measure(one: Case, seconds: number, gc: GcWatch): Promise<Sample> {
  const keys = generateKeyingMaterial(one.profile);
  const engine: SrtpEngineName = one.engine === 'node' ? 'node' : 'libsrtp';
  const step =
    one.operation === 'protect'
      ? protectStep(createSrtpSession(keys, {}, engine), one.size)
      : unprotectStep(keys, engine, one.size);
  const run = timed(seconds, step);
  const collected = await gc.between(run.start, run.end);
  return {
    packetsPerSecond: run.packetsPerSecond,
    gcCount: collected.count,
    gcTotalMs: collected.totalMs,
    gcMaxMs: collected.maxMs,
  };
}

/** What the child says first: whose primitives its libsrtp runs. */
interface ChildReady {
  readonly crypto: string;
}

/** The child's side: measures each case it is sent and answers with the sample. */
function serveCases(): void {
  const loaded = loadLibsrtpAddon();
  if ('error' in loaded) throw new Error(`the libsrtp addon is not built: ${loaded.error}`);
  const gc = new GcWatch();
  process.on('message', (message: { one: Case; seconds: number }) => {
    void measure(message.one, message.seconds, gc).then((sample) => process.send?.(sample));
  });
  process.on('disconnect', () => {
    gc.close();
    process.exit(0);
  });
  const ready: ChildReady = { crypto: loaded.addon.crypto() };
  process.send?.(ready);
}

/** The child for libsrtp-nss, once it has said its libsrtp runs libsrtp's own primitives. */
async function startNssChild(): Promise<ChildProcess> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    env: { ...process.env, STREAMMESH_PROXY_SRTP_CRYPTO: 'libsrtp' },
  });
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    child.once('message', (message) => resolve(message as ChildReady));
    child.once('exit', (code) => reject(new Error(`the libsrtp-nss child exited (${code})`)));
  });
  if (!ready.crypto.startsWith('libsrtp')) {
    child.kill();
    throw new Error(`the libsrtp-nss child runs ${ready.crypto}, not libsrtp's own primitives`);
  }
  return child;
}

function measureInChild(child: ChildProcess, one: Case, seconds: number): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void =>
      reject(new Error(`the libsrtp-nss child exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (sample) => {
      child.off('exit', onExit);
      resolve(sample as Sample);
    });
    child.send({ one, seconds });
  });
}

/** One case in libsrtp-alone (no garbage collector there). */
function measureInC(binary: string, one: Case, seconds: number): Sample {
  const run = spawnSync(binary, [one.profile, String(one.size), one.operation, String(seconds)], {
    encoding: 'utf8',
    timeout: (seconds + 10) * 1000,
  });
  if (run.status !== 0) throw new Error(`libsrtp-alone failed: ${run.stderr || String(run.error)}`);
  const { nsPerPacket } = JSON.parse(run.stdout) as { nsPerPacket: number };
  return { packetsPerSecond: 1e9 / nsPerPacket, gcCount: 0, gcTotalMs: 0, gcMaxMs: 0 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const quick = values.quick;
  // --quick: a sanity run (a quarter of a second per case, one run), not a result.
  const seconds = quick ? 0.25 : int(values.seconds, 2, 1, 60);
  const runs = int(values.runs, quick ? 1 : 3, 1, 15);
  const loaded = loadLibsrtpAddon();
  if ('error' in loaded) {
    throw new Error(
      `the libsrtp addon is not built (node scripts/build-native.mjs srtp): ${loaded.error}`,
    );
  }
  const cases: Case[] = [];
  for (const profile of srtpProfiles) {
    for (const size of sizes) {
      for (const operation of operations) {
        for (const engine of engines) cases.push({ engine, profile, size, operation });
      }
    }
  }
  const crypto = loaded.addon.crypto();
  log(
    `srtp engines: ${cases.length} cases x ${runs} runs x ${seconds} s, ${loaded.addon.version()} (crypto: ${crypto}), node ${process.version}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const floor = buildC('libsrtp-alone');
  const gc = new GcWatch();
  const nss = await startNssChild();
  const samples = new Map<Case, Sample[]>(cases.map((one) => [one, []]));
  try {
    for (let run = 0; run < runs; run++) {
      for (const one of cases) {
        const sample =
          one.engine === 'libsrtp-nss'
            ? await measureInChild(nss, one, seconds)
            : one.engine === 'c-libsrtp'
              ? measureInC(floor, one, seconds)
              : await measure(one, seconds, gc);
        samples.get(one)?.push(sample);
      }
    }
  } finally {
    gc.close();
    nss.disconnect();
  }
  const results: CaseResult[] = cases.map((one) => {
    const list = samples.get(one) ?? [];
    const packetsPerSecond = median(list.map((s) => s.packetsPerSecond));
    return {
      ...one,
      packetsPerSecond: Math.round(packetsPerSecond),
      nsPerPacket: Math.round(1e9 / packetsPerSecond),
      gcCount: median(list.map((s) => s.gcCount)),
      gcTotalMs: round(median(list.map((s) => s.gcTotalMs)), 2),
      gcMaxMs: round(median(list.map((s) => s.gcMaxMs)), 2),
    };
  });
  const over = (r: CaseResult, engine: BenchEngine): number | null => {
    const other = results.find(
      (n) =>
        n.engine === engine &&
        n.profile === r.profile &&
        n.size === r.size &&
        n.operation === r.operation,
    );
    return other === undefined ? null : round(r.packetsPerSecond / other.packetsPerSecond, 2);
  };
  const ratios = results
    .filter((r) => r.engine === 'libsrtp')
    .map((r) => ({
      profile: r.profile,
      size: r.size,
      operation: r.operation,
      libsrtpOverNode: over(r, 'node'),
      libsrtpOverLibsrtpNss: over(r, 'libsrtp-nss'),
      libsrtpOverC: over(r, 'c-libsrtp'),
    }));
  const table = results.map(
    (r) =>
      `${r.engine.padEnd(11)} ${r.profile.padEnd(24)} ${String(r.size).padStart(5)} ${r.operation.padEnd(9)} ` +
      `${String(r.packetsPerSecond).padStart(9)} pkt/s ${String(r.nsPerPacket).padStart(6)} ns  ` +
      `gc ${r.gcCount} (${r.gcTotalMs} ms, max ${r.gcMaxMs} ms)`,
  );
  process.stdout.write(`${table.join('\n')}\n`);
  const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const outDir = values.out ?? join(repoRoot, 'loadtests', 'results');
  mkdirSync(outDir, { recursive: true });
  const report = {
    benchmark: 'srtp-engines',
    command: `npm run bench:srtp${quick ? ' -- --quick' : ''}`,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      loadAverageAtStart: loadavg().map((l) => round(l, 2)),
    },
    node: process.version,
    libsrtp: loaded.addon.version(),
    libsrtpCrypto: crypto,
    secondsPerCase: seconds,
    runs,
    results,
    ratios,
  };
  const file = join(outDir, 'srtp-engines.json');
  // Formatted as prettier writes it, so that a committed result passes `npm run check`.
  writeFileSync(file, await formattedJson(file, report));
  log(`wrote ${file}`);
}

if (process.argv.includes('--serve')) {
  serveCases();
} else {
  await runBench('srtp-engines', main, { message: 'SRTP engine benchmark stopped' });
}
