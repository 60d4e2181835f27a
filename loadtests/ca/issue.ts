/**
 * bench:ca — how fast the mesh CA issues workload certificates.
 *
 * One process, one MeshCa (a root generated in a temporary directory,
 * removed at the end). A pool of workload CSRs (P-256 keys, as workloads
 * make them) is prepared first, outside the measurement: making a key and
 * a CSR is the workload's cost, not the CA's. Then, per run, ca.issue() is
 * called one after another for RUN_MS (or at most MAX_ISSUES_PER_RUN
 * calls), each call timed alone: parsing the CSR, checking its signature,
 * building and signing the leaf. Sequential on purpose: the signing runs on
 * the CA's event loop, so this is the rate one control plane can give.
 *
 * Figures: certificates/s (the median of RUNS runs) and p50/p99 ms per
 * issue over every call of every run. Output: a table on stdout and
 * loadtests/results/ca-issue.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshCa } from '../../src/control-plane/ca/index.js';
import { createCsr, generateWorkloadKey, spiffeId } from '../../src/shared/identity/index.js';
import { log, runBench } from '../common/cli.js';
import { machineInfo } from '../common/machine.js';
import { repoRoot } from '../common/streammesh-up.js';
import { formattedJson } from '../rtp/report.js';

const RUNS = 3;
const RUN_MS = 2_000;
/** Bounds a run whatever the machine: far above any rate seen. */
const MAX_ISSUES_PER_RUN = 200_000;
const CSR_POOL = 64;
const TRUST_DOMAIN = 'streammesh.bench';

interface RunResult {
  readonly issued: number;
  readonly seconds: number;
  readonly certificatesPerSecond: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? NaN)
    : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

async function main(): Promise<void> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'bench-ca-'));
  try {
    const ca = await MeshCa.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: TRUST_DOMAIN });
    const requests: { csr: string; id: string }[] = [];
    for (let i = 0; i < CSR_POOL; i += 1) {
      const id = spiffeId({
        trustDomain: TRUST_DOMAIN,
        namespace: 'bench',
        serviceAccount: `w${i}`,
      });
      requests.push({ csr: await createCsr(await generateWorkloadKey(), id), id });
    }
    // Warm-up: JIT and the library's lazy set-up stay out of the first run.
    for (const request of requests) await ca.issue(request.csr, { spiffeId: request.id });

    const runs: RunResult[] = [];
    const latenciesMs: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      let issued = 0;
      const runStart = performance.now();
      while (performance.now() - runStart < RUN_MS && issued < MAX_ISSUES_PER_RUN) {
        const request = requests[issued % requests.length];
        if (request === undefined) throw new Error('empty CSR pool');
        const before = performance.now();
        await ca.issue(request.csr, { spiffeId: request.id });
        latenciesMs.push(performance.now() - before);
        issued += 1;
      }
      const seconds = (performance.now() - runStart) / 1000;
      runs.push({
        issued,
        seconds: round(seconds, 3),
        certificatesPerSecond: round(issued / seconds, 1),
      });
      log(`run ${run + 1}/${RUNS}: ${issued} certificates in ${seconds.toFixed(2)} s`);
    }

    latenciesMs.sort((a, b) => a - b);
    const figures = {
      certificatesPerSecond: round(median(runs.map((run) => run.certificatesPerSecond)), 1),
      p50Ms: round(percentile(latenciesMs, 50), 3),
      p99Ms: round(percentile(latenciesMs, 99), 3),
      samples: latenciesMs.length,
    };
    const results = {
      benchmark: 'ca-issue',
      date: new Date().toISOString(),
      command: 'npm run bench:ca',
      durationSeconds: round((Date.now() - started) / 1000, 1),
      machine: machineInfo(repoRoot),
      parameters: {
        runs: RUNS,
        runMs: RUN_MS,
        maxIssuesPerRun: MAX_ISSUES_PER_RUN,
        csrPool: CSR_POOL,
      },
      method: [
        'One process, one MeshCa with a generated ECDSA P-256 root (@peculiar/x509 over node WebCrypto).',
        `${CSR_POOL} workload CSRs (P-256) made before measuring; their cost is the workload's, not the CA's.`,
        `${RUNS} runs of ${RUN_MS} ms (at most ${MAX_ISSUES_PER_RUN} issues each) of sequential ca.issue() calls, each timed alone: CSR parse and signature check, leaf built and signed.`,
        'certificatesPerSecond is the median of the runs; p50/p99 are over every call of every run (nearest rank).',
      ],
      runs,
      figures,
    };
    process.stdout.write(
      [
        'mesh CA issuance (sequential, one event loop)',
        `  certificates/s (median of ${RUNS}): ${figures.certificatesPerSecond}`,
        `  per issue: p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms (${figures.samples} issues)`,
        '',
      ].join('\n'),
    );
    const outDir = join(repoRoot, 'loadtests', 'results');
    mkdirSync(outDir, { recursive: true });
    const jsonFile = join(outDir, 'ca-issue.json');
    writeFileSync(jsonFile, await formattedJson(jsonFile, results));
    log(`wrote ${jsonFile}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runBench('bench:ca', main, { message: 'no result written' });
