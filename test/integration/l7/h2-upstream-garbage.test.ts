/**
 * What an upstream HTTP/2 request leaves for the full collector. node 20's
 * AsyncResource.bind, which ClientHttp2Session.request() calls per request,
 * makes the request's stream outlive young-generation collections
 * (src/shared/lean-async-bind.ts): each request's objects are promoted and
 * wait for a mark-compact, which made the L7 thread's scavenges take 4-6 ms
 * at 1,000 HTTP/2 requests/s. The HTTP/2 upstream pool puts leanBind in
 * place.
 *
 * Each mode runs in a process of its own (test/helpers/h2-garbage-probe.ts)
 * with real sockets to a node:http2 server: 2,000 requests one at a time,
 * two scavenges, a full collection; what the full collection frees is what
 * outlived the scavenges although it was garbage.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const probe = fileURLToPath(new URL('../../helpers/h2-garbage-probe.js', import.meta.url));

interface Probe {
  readonly mode: string;
  readonly runtimePerCall: boolean;
  readonly leanInPlace: boolean;
  readonly keptBytesPerRequest: number;
}

function run(mode: 'runtime' | 'lean' | 'pool'): Probe {
  const output = execFileSync(process.execPath, ['--expose-gc', probe, mode], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(output) as Probe;
}

/** Measured: about 0.8 KB with leanBind, 5 KB with node 20's bind. */
const LEAN_AT_MOST = 2_000;
const RUNTIME_AT_LEAST = 3_000;

describe('HTTP/2 upstream requests and the young generation', () => {
  it('through the HTTP/2 pool a request leaves little for the full collector', () => {
    const pool = run('pool');
    assert.equal(
      pool.leanInPlace,
      pool.runtimePerCall,
      'the pool puts leanBind in place where needed',
    );
    assert.ok(
      pool.keptBytesPerRequest < LEAN_AT_MOST,
      `${pool.keptBytesPerRequest} bytes a request kept until a full collection`,
    );
  });

  it('session.request keeps the stream with the runtime bind, not with leanBind', (t) => {
    const lean = run('lean');
    assert.ok(lean.leanInPlace);
    assert.ok(
      lean.keptBytesPerRequest < LEAN_AT_MOST,
      `leanBind: ${lean.keptBytesPerRequest} bytes a request kept`,
    );
    const runtime = run('runtime');
    if (!runtime.runtimePerCall) {
      t.diagnostic(
        `this node's bind makes no accessor per call: ${runtime.keptBytesPerRequest} bytes kept`,
      );
      return;
    }
    // The comparison that shows the probe can see the difference at all.
    assert.ok(
      runtime.keptBytesPerRequest > RUNTIME_AT_LEAST,
      `runtime bind: only ${runtime.keptBytesPerRequest} bytes a request kept`,
    );
  });
});
