/**
 * WorkloadIdentity's schedule, on a manual clock: the first certificate with
 * the bootstrap token, a renewal at half the lifetime (counted from the
 * issue, not from the backdated notBefore) over mutual TLS with a new key,
 * retries with backoff while the trust bundle or the token is missing or
 * the control plane fails, a renewal retried until notAfter and then the
 * bootstrap token again, each kind of trouble logged once, close() stopping
 * it all, and the token never in a log line.
 *
 * The certificates are real (a MeshCa on the same manual clock, its root in
 * a temporary directory); only the gRPC call is replaced by a function, so
 * no socket is opened. Every attempt ends by setting exactly one timer (the
 * renewal, or the retry), which is how the test knows an attempt finished.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { MeshCa } from '../../../src/control-plane/ca/index.js';
import {
  CertificateIssueError,
  IdentityClosedError,
  renewalTime,
  WorkloadIdentity,
  type CertificateIssuer,
  type IdentityTimers,
  type IssuerTls,
} from '../../../src/node-agent/identity/index.js';
import type { CertificateRequest } from '../../../src/protocol/mesh/index.js';
import { Backoff } from '../../../src/shared/backoff.js';
import { at } from '../../helpers/defined.js';
import {
  createCsr,
  generateWorkloadKey,
  type WorkloadCertificates,
} from '../../../src/shared/identity/index.js';

const TRUST_DOMAIN = 'streammesh.test';
const NODE_ID = 'proxy-a';
const SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/default/sa/frontend`;
const TOKEN = 'bootstrap-token-that-must-never-show-0123456789';
const LIFETIME_MS = 60_000;
/** A whole second: X.509 times have a one-second resolution. */
const START = Date.UTC(2026, 11, 5, 3, 0, 0);
const BACKOFF = { baseMs: 250, maxMs: 4_000 };

/** Timers that fire only when the test says, at the times they were set for. */
class ManualTimers implements IdentityTimers {
  nowMs = START;
  readonly #timers: { at: number; callback: () => void; live: boolean }[] = [];

  now(): number {
    return this.nowMs;
  }

  after(delayMs: number, callback: () => void): () => void {
    const timer = { at: this.nowMs + delayMs, callback, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  }

  /** When the one live timer fires; undefined when none is set. */
  next(): number | undefined {
    const live = this.#timers.filter((timer) => timer.live);
    assert.ok(live.length <= 1, 'at most one timer is set at a time');
    return live[0]?.at;
  }

  /** Fires the live timer (at its time), then waits for the attempt it starts to set the next one. */
  async fire(): Promise<number> {
    const timer = this.#timers.find((candidate) => candidate.live);
    assert.ok(timer !== undefined, 'a timer is set');
    timer.live = false;
    this.nowMs = Math.max(this.nowMs, timer.at);
    timer.callback();
    await this.settled();
    return this.nowMs;
  }

  /** Waits (bounded) until a timer is set again: the attempt under way has ended. */
  async settled(): Promise<void> {
    for (let i = 0; i < 2_000; i += 1) {
      if (this.next() !== undefined) return;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.fail('the attempt set no timer');
  }
}

interface Call {
  readonly request: CertificateRequest;
  readonly tls: IssuerTls;
}

/** The control plane's IssueCertificate without the wire: the real CA, failures on demand. */
class FakeIssuer implements CertificateIssuer {
  readonly calls: Call[] = [];
  readonly failures: Error[] = [];
  readonly #ca: MeshCa;

  constructor(ca: MeshCa) {
    this.#ca = ca;
  }

  async issue(request: CertificateRequest, tls: IssuerTls) {
    this.calls.push({ request, tls });
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    const issued = await this.#ca.issue(request.csrPem, {
      spiffeId: SPIFFE_ID,
      nodeId: request.nodeId,
      lifetimeMs: LIFETIME_MS,
    });
    return {
      certificatePem: issued.certificatePem,
      chainPem: issued.chainPem,
      trustBundlePem: this.#ca.trustBundle(),
      notAfterMs: issued.notAfter.getTime(),
      spiffeId: SPIFFE_ID,
    };
  }
}

const unavailable = (): CertificateIssueError =>
  new CertificateIssueError('UNAVAILABLE', 'the control plane at 127.0.0.1:1 failed: UNAVAILABLE');

interface Harness {
  readonly identity: WorkloadIdentity;
  readonly timers: ManualTimers;
  readonly issuer: FakeIssuer;
  readonly lines: string[];
  readonly metrics: Registry;
  /** What the files hold now; undefined: not there yet. */
  readonly files: { bundle: string | undefined; token: string | undefined };
  readonly renewed: WorkloadCertificates[];
}

function serial(certificates: WorkloadCertificates): string {
  return new X509Certificate(certificates.certificatePem).serialNumber;
}

describe('workload identity: issue and renewal schedule', () => {
  let dir: string;
  let timers: ManualTimers;
  let ca: MeshCa;
  const open: WorkloadIdentity[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'workload-identity-unit-'));
    timers = new ManualTimers();
    // The CA reads the time of whichever test runs now.
    ca = await MeshCa.loadOrCreate({
      dir: join(dir, 'ca'),
      trustDomain: TRUST_DOMAIN,
      clock: { now: () => timers.nowMs },
    });
  });

  after(() => {
    for (const identity of open) identity.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function harness(files: Harness['files'] = { bundle: ca.trustBundle(), token: TOKEN }): Harness {
    timers = new ManualTimers();
    const lines: string[] = [];
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const issuer = new FakeIssuer(ca);
    const metrics = new Registry();
    const identity = new WorkloadIdentity({
      trustDomain: TRUST_DOMAIN,
      namespace: 'default',
      serviceAccount: 'frontend',
      nodeId: NODE_ID,
      issuer,
      trustBundle: { describe: () => '/ca/bundle.pem', read: () => files.bundle },
      bootstrapToken: { describe: () => '/state/bootstrap-token', token: () => files.token },
      log,
      metrics,
      timers,
      // The longest delay every time: the retry times are exact.
      backoff: new Backoff({ ...BACKOFF, random: () => 0.999_999 }),
    });
    open.push(identity);
    const renewed: WorkloadCertificates[] = [];
    identity.on('renewed', (certificates) => renewed.push(certificates));
    return { identity, timers, issuer, lines, metrics, files, renewed };
  }

  async function started(h: Harness): Promise<WorkloadCertificates> {
    const first = h.identity.obtain();
    await h.timers.settled();
    return await first;
  }

  it('gets a first certificate for its key, ID and node id with the bootstrap token', async () => {
    const h = harness();
    const certificates = await started(h);
    assert.equal(h.issuer.calls.length, 1);
    const call = at(h.issuer.calls, 0);
    assert.equal(call.request.bootstrapToken, TOKEN);
    assert.equal(call.request.nodeId, NODE_ID);
    assert.equal(call.tls.trustBundlePem, ca.trustBundle());
    assert.equal(call.tls.client, undefined, 'no client certificate before the first');
    const leaf = new X509Certificate(certificates.certificatePem);
    assert.equal(leaf.subjectAltName, `URI:${SPIFFE_ID}`);
    assert.ok(leaf.subject.split('\n').includes(`CN=${NODE_ID}`));
    assert.ok(leaf.checkPrivateKey(createPrivateKey(certificates.privateKeyPem)));
    assert.equal(certificates.spiffeId, SPIFFE_ID);
    assert.equal(certificates.nodeId, NODE_ID);
    assert.equal(h.identity.current(), certificates);
    assert.equal(h.identity.waitingReason(), undefined);
    assert.deepEqual(h.renewed, [], "the first certificate is not a 'renewed'");
  });

  it('renews at half the lifetime from the issue, over mTLS with a new key, and emits renewed', async () => {
    const h = harness();
    const first = await started(h);
    const issuedAt = START;
    assert.equal(first.notAfterMs, issuedAt + LIFETIME_MS);
    // Not half of notBefore..notAfter, which the CA backdates by 5 minutes.
    assert.equal(h.identity.renewAtMs, renewalTime(issuedAt, first.notAfterMs));
    assert.equal(h.timers.next(), issuedAt + LIFETIME_MS / 2);
    assert.equal(h.issuer.calls.length, 1, 'nothing asked before the renewal time');

    const renewedAt = await h.timers.fire();
    assert.equal(renewedAt, issuedAt + LIFETIME_MS / 2);
    assert.equal(h.issuer.calls.length, 2);
    const renewal = at(h.issuer.calls, 1);
    assert.equal(renewal.request.bootstrapToken, '', 'a renewal carries no token');
    assert.equal(renewal.request.nodeId, NODE_ID);
    const client = renewal.tls.client;
    assert.ok(client !== undefined, 'a renewal presents the current certificate');
    assert.equal(client.privateKeyPem, first.privateKeyPem);
    assert.ok(client.certificateChainPem.startsWith(first.certificatePem.trim()));
    assert.equal(renewal.tls.trustBundlePem, first.trustBundlePem);

    assert.equal(h.renewed.length, 1);
    const second = h.renewed[0];
    assert.ok(second !== undefined);
    assert.equal(h.identity.current(), second);
    assert.notEqual(second.privateKeyPem, first.privateKeyPem, 'a new key');
    assert.notEqual(serial(second), serial(first), 'a new certificate');
    assert.equal(second.notAfterMs, renewedAt + LIFETIME_MS);
    assert.equal(h.timers.next(), renewedAt + LIFETIME_MS / 2, 'the next renewal follows');
    const issued = await h.metrics.getSingleMetricAsString(
      'streammesh_node_certificate_requests_total',
    );
    assert.match(issued, /kind="bootstrap",result="issued"} 1/);
    assert.match(issued, /kind="renewal",result="issued"} 1/);
  });

  it('waits for the trust bundle and the token with backoff, logging each wait once', async () => {
    const h = harness({ bundle: undefined, token: undefined });
    const first = h.identity.obtain();
    await h.timers.settled();
    assert.match(
      h.identity.waitingReason() ?? '',
      /waiting for the trust bundle \/ca\/bundle\.pem/,
    );
    for (let i = 0; i < 3; i += 1) await h.timers.fire();
    assert.equal(h.issuer.calls.length, 0, 'nothing asked without a bundle');

    h.files.bundle = ca.trustBundle();
    await h.timers.fire();
    assert.match(
      h.identity.waitingReason() ?? '',
      /waiting for the bootstrap token \/state\/bootstrap-token/,
    );
    for (let i = 0; i < 3; i += 1) await h.timers.fire();
    assert.equal(h.issuer.calls.length, 0, 'nothing asked without a token');

    h.files.token = TOKEN;
    await h.timers.fire();
    const certificates = await first;
    assert.equal(h.issuer.calls.length, 1);
    assert.equal(certificates.spiffeId, SPIFFE_ID);
    assert.equal(countLines(h.lines, /waiting for the trust bundle/), 1);
    assert.equal(countLines(h.lines, /waiting for the bootstrap token/), 1);
    assert.equal(countLines(h.lines, /workload certificate issued/), 1);
  });

  it('retries a failed first request with growing delays and logs the failure once', async () => {
    const h = harness();
    h.issuer.failures.push(unavailable(), unavailable(), unavailable());
    const first = h.identity.obtain();
    await h.timers.settled();
    const delays: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const before = h.timers.nowMs;
      delays.push((h.timers.next() ?? 0) - before);
      await h.timers.fire();
    }
    await first;
    assert.equal(h.issuer.calls.length, 4);
    assert.deepEqual(delays, [250, 500, 1_000], 'exponential backoff');
    assert.equal(countLines(h.lines, /UNAVAILABLE/), 1, 'one line for the same failure');
  });

  it('retries a failed renewal until notAfter, then asks with the bootstrap token', async () => {
    const h = harness();
    const first = await started(h);
    const failures = 20;
    for (let i = 0; i < failures; i += 1) h.issuer.failures.push(unavailable());
    await h.timers.fire(); // the renewal, failing
    let renewals = 1;
    while ((h.timers.next() ?? Infinity) < first.notAfterMs) {
      await h.timers.fire();
      renewals += 1;
      assert.ok(renewals < failures, 'retried until notAfter, no longer');
    }
    assert.ok(renewals > 2, 'a failed renewal is retried');
    for (const call of h.issuer.calls.slice(1)) {
      assert.equal(call.request.bootstrapToken, '', 'renewals until notAfter');
    }
    assert.equal(h.timers.next(), first.notAfterMs, 'the last retry is at notAfter');
    assert.equal(h.identity.waitingReason(), undefined, 'valid until notAfter');
    h.issuer.failures.length = 0;
    await h.timers.fire();
    const last = at(h.issuer.calls, -1);
    assert.equal(last.request.bootstrapToken, TOKEN, 'expired: the bootstrap token again');
    assert.equal(last.tls.client, undefined);
    assert.equal(h.renewed.length, 1, 'the new certificate is a renewal for its users');
    assert.equal(countLines(h.lines, /UNAVAILABLE/), 1, 'the failing renewal logged once');
    assert.equal(countLines(h.lines, /expired before it could be renewed/), 1);
  });

  it('refuses an answer that does not certify its own key, and asks again', async () => {
    const h = harness();
    const original = h.issuer.issue.bind(h.issuer);
    let swapped = false;
    h.issuer.issue = async (request, tls) => {
      if (swapped) return await original(request, tls);
      swapped = true;
      // A certificate for another key: the node could not use it.
      const key = await generateWorkloadKey();
      return await original({ ...request, csrPem: await createCsr(key, SPIFFE_ID) }, tls);
    };
    const certificates = await (async () => {
      const first = h.identity.obtain();
      await h.timers.settled();
      assert.equal(h.identity.current(), undefined, 'the wrong certificate is not taken');
      assert.match(h.identity.waitingReason() ?? '', /certifies another key/);
      await h.timers.fire();
      return await first;
    })();
    assert.ok(
      new X509Certificate(certificates.certificatePem).checkPrivateKey(
        createPrivateKey(certificates.privateKeyPem),
      ),
    );
  });

  it('close() stops renewing, and a close before the first certificate rejects obtain()', async () => {
    const h = harness();
    await started(h);
    h.identity.close();
    assert.equal(h.timers.next(), undefined, 'no timer left');

    const waiting = harness({ bundle: undefined, token: TOKEN });
    const first = waiting.identity.obtain();
    await waiting.timers.settled();
    waiting.identity.close();
    await assert.rejects(first, IdentityClosedError);
    assert.equal(waiting.timers.next(), undefined);
    assert.equal(waiting.issuer.calls.length, 0);
  });

  it('never logs the token or the key, even when a refusal quotes the token', async () => {
    const h = harness();
    h.issuer.failures.push(new CertificateIssueError('UNAUTHENTICATED', `token ${TOKEN} is wrong`));
    const first = h.identity.obtain();
    await h.timers.settled();
    assert.doesNotMatch(h.identity.waitingReason() ?? '', new RegExp(TOKEN));
    await h.timers.fire();
    const certificates = await first;
    await h.timers.fire(); // a renewal
    const text = h.lines.join('');
    assert.match(text, /token \(redacted\) is wrong/);
    assert.ok(!text.includes(TOKEN), 'the token is not in the log');
    const keyBody = certificates.privateKeyPem.split('\n')[1] ?? '';
    assert.ok(keyBody.length > 0 && !text.includes(keyBody), 'the key is not in the log');
  });
});

function countLines(lines: readonly string[], pattern: RegExp): number {
  return lines.filter((line) => pattern.test(line)).length;
}
