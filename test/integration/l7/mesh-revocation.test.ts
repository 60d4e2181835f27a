/**
 * Revocation on the L7 mesh hop (issue 17), end to end through the real
 * pieces: `streammesh up` (mTLS on, the mesh CA in a temp state directory)
 * runs the control plane and four proxies, each on its own loopback address
 * with its own certificate from the CA:
 *
 *   proxy-a 127.0.0.21 frontend  client side
 *   proxy-c 127.0.0.23 frontend  client side, the same SPIFFE ID, another serial
 *   proxy-b 127.0.0.22 users     server side
 *   proxy-d 127.0.0.24 users     server side, the same SPIFFE ID, another serial
 *
 * They share one L7 config: a plaintext `local` listener whose requests go
 * over mesh mTLS to B (cluster users) or, with `x-to: d`, to D (cluster
 * users-d), and a `mesh` listener (tls mode mesh) in front of a real HTTP
 * upstream here. The operator revokes a certificate the way issue 17 says:
 * its serial from GET /ca, POST /certificates/<serial>/revoke with the
 * admin token; the list reaches the nodes with the TRUST_BUNDLE resource.
 *
 * Shown, in order (each step builds on the one before):
 * 1. before: A -> B and C -> B answer 200;
 * 2. A's certificate revoked: once B holds the pushed bundle, a new
 *    connection from A is refused at B's mesh listener (counted as
 *    tls_client_certificate_revoked) and A's client gets a gateway error
 *    (502: see the test), nothing reaching the upstream; C, the same SPIFFE
 *    ID but another serial, keeps getting 200 (a serial is revoked, not an
 *    identity);
 * 3. B's certificate revoked: C's mesh cluster refuses B (503, counted as a
 *    server_identity TLS failure), while D, naming the same ID as B with a
 *    serial not on the list, still serves C.
 *
 * Revoking a node's certificate also makes the control plane end that
 * node's resource stream, so A (then B) is cut off from the control plane
 * and ACKs no later bundle: expected, and why the waits below look at the
 * nodes still connected.
 *
 * Pooled connections: the list is checked when a connection is made, so a
 * connection opened before a revocation keeps serving until it closes. B's mesh
 * listener closes a connection idle for IDLE_MS, and every request here
 * that must show a fresh handshake is sent after waiting a few times that
 * (fresh()), so it cannot ride a pooled connection.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bearer, newAdminToken } from '../../helpers/admin-token.js';
import { getJson } from '../../helpers/http.js';
import { delay, startBackend, type Backend } from '../../helpers/l7-harness.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { freePort } from '../../helpers/ports.js';
import { startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { workloadId } from '../../helpers/mesh-tls.js';
import type { CaView } from '../../../src/control-plane/ca-rotation.js';
import { normalizeSerial } from '../../../src/shared/identity/index.js';
import type { RevokedView } from '../../../src/control-plane/revocation-routes.js';

const FRONTEND = workloadId('frontend');
const USERS = workloadId('users');
const HOSTS = { a: '127.0.0.21', b: '127.0.0.22', c: '127.0.0.23', d: '127.0.0.24' } as const;
type Proxy = keyof typeof HOSTS;
const PEER_HEADER = 'x-streammesh-peer-identity';
/** B's and D's mesh listeners close a connection idle this long. */
const IDLE_MS = 150;
const REVOKED_REASON = 'tls_client_certificate_revoked';

interface RevokeAnswer extends RevokedView {
  readonly known: boolean;
}

/** One request to a proxy's plaintext listener on a connection of its own: the status (0: no answer). */
function get(host: string, port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<number>((resolve) => {
    const req = request({ host, port, path, headers, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** The sum of a metric's series at url/metrics whose labels include `labels` (0 before it exists). */
async function metric(
  url: string,
  name: string,
  labels: Readonly<Record<string, string>>,
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const series = new Map(
      [...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => series.get(key) === value)) {
      sum += Number(match[2]);
    }
  }
  return sum;
}

describe('revocation on the L7 mesh hop', { timeout: 120_000 }, () => {
  const token = newAdminToken();
  const state = mkdtempSync(join(tmpdir(), 'streammesh-l7-revocation-'));
  let backend: Backend;
  let up: Running | undefined;
  let planeUrl = '';
  const adminUrl = {} as Record<Proxy, string>;
  let localPort = 0;
  /** A's serial, as the revocation answered it (step 2; listed in step 3). */
  let revokedA = '';

  const caView = async (): Promise<CaView> => (await getJson<CaView>(`${planeUrl}/ca`)).body;
  const serialOf = async (proxy: Proxy): Promise<string> => {
    const node = (await caView()).nodes.find((view) => view.id === `proxy-${proxy}`);
    const serial = node?.certificate?.serialNumber;
    assert.ok(serial !== undefined, `GET /ca names proxy-${proxy}'s certificate`);
    return serial;
  };
  const revoke = async (serial: string): Promise<RevokeAnswer> => {
    const response = await fetch(`${planeUrl}/certificates/${serial}/revoke`, {
      method: 'POST',
      headers: bearer(token),
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as RevokeAnswer;
  };
  /** Waits until each of `proxies` ACKed the bundle in force (the one with the latest list). */
  const bundleAckedBy = (proxies: readonly Proxy[]): Promise<true> =>
    waitFor(
      async () => {
        const { nodes } = await caView();
        return proxies.every(
          (proxy) => nodes.find((node) => node.id === `proxy-${proxy}`)?.bundleAcked === true,
        )
          ? true
          : undefined;
      },
      10_000,
      () => `proxies ${proxies.join(', ')} to ACK the bundle with the new revocation`,
    );
  /**
   * A request through `proxy`'s local listener after its upstream connections
   * have idled out at the server side: so it needs a new mutual TLS handshake.
   */
  const fresh = async (proxy: Proxy, path: string, to: 'b' | 'd' = 'b'): Promise<number> => {
    await delay(IDLE_MS * 4);
    return get(HOSTS[proxy], localPort, path, to === 'd' ? { 'x-to': 'd' } : {});
  };
  const refusedRevoked = (proxy: Proxy): Promise<number> =>
    metric(adminUrl[proxy], 'streammesh_http_refused_requests_total', {
      listener: 'mesh',
      reason: REVOKED_REASON,
    });

  before(async () => {
    backend = await startBackend('users-app');
    localPort = await freePort();
    const meshPort = await freePort((port) => port !== localPort);
    const config = [
      'logLevel: info',
      'controlPlane:',
      '  heartbeatIntervalMs: 200',
      'proxy:',
      '  admin: 127.0.0.1:0',
      '  instances:',
      `    - { id: proxy-a, host: "${HOSTS.a}", serviceAccount: frontend }`,
      `    - { id: proxy-b, host: "${HOSTS.b}", serviceAccount: users }`,
      `    - { id: proxy-c, host: "${HOSTS.c}", serviceAccount: frontend }`,
      `    - { id: proxy-d, host: "${HOSTS.d}", serviceAccount: users }`,
      '  rtsp: { enabled: false }',
      '  http:',
      '    listeners:',
      `      - { name: local, listen: "127.0.0.1:${localPort}" }`,
      '      - name: mesh',
      `        listen: "127.0.0.1:${meshPort}"`,
      `        idleTimeoutMs: ${IDLE_MS}`,
      '        tls: { mode: mesh }',
      '    routes:',
      '      - { name: to-d, listener: local, match: { path: { prefix: / }, headers: [{ name: x-to, exact: d }] }, action: { cluster: users-d } }',
      '      - { name: to-b, listener: local, match: { path: { prefix: / } }, action: { cluster: users } }',
      '      - { name: to-app, listener: mesh, match: { path: { prefix: / } }, action: { cluster: app } }',
      '    clusters:',
      `      - { name: users, endpoints: ["${HOSTS.b}:${meshPort}"], tls: { mode: mesh, spiffeIds: ["${USERS}"] } }`,
      `      - { name: users-d, endpoints: ["${HOSTS.d}:${meshPort}"], tls: { mode: mesh, spiffeIds: ["${USERS}"] } }`,
      `      - { name: app, endpoints: ["${backend.address}"] }`,
      'signaling:',
      '  admin: 127.0.0.1:0',
      '  listen: 127.0.0.1:0',
      '',
    ].join('\n');
    up = startStreammesh(['up', '--config', writeTempConfig(config), '--verbose'], {
      STREAMMESH_ADMIN_TOKEN: token,
      XDG_STATE_HOME: state,
      STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
      STREAMMESH_CONTROL_PLANE_GRPC: '127.0.0.1:0',
    });
    const plane = await up.waitForOutput(/^control-plane +ready +(http:\/\/\S+)/m, 15_000);
    planeUrl = plane[1] ?? '';
    for (const proxy of Object.keys(HOSTS) as Proxy[]) {
      const ready = await up.waitForOutput(
        new RegExp(`^proxy-${proxy} +ready +(http://\\S+)`, 'm'),
        30_000,
      );
      adminUrl[proxy] = ready[1] ?? '';
    }
  });

  after(async () => {
    await up?.stop('SIGTERM', 10_000);
    await backend.close();
    rmSync(state, { recursive: true, force: true });
  });

  it('carries requests over the mesh hop before any revocation', async () => {
    // Ready means each proxy's config is in force; the first handshakes may still wait for certificates.
    for (const proxy of ['a', 'c'] as const) {
      await waitFor(
        async () => ((await get(HOSTS[proxy], localPort, '/warm')) === 200 ? true : undefined),
        20_000,
        () => `a request through ${proxy} -> b:\n${up?.stderr().slice(-3_000) ?? ''}`,
      );
    }
    assert.equal(await fresh('a', '/before/a'), 200);
    assert.equal(backend.seen.at(-1)?.headers[PEER_HEADER], FRONTEND);
    assert.equal(await fresh('c', '/before/c'), 200);
    assert.equal(await fresh('c', '/before/c-to-d', 'd'), 200);
  });

  it("refuses the client-side proxy's revoked certificate at the server-side listener; another serial of the same ID goes on", async () => {
    const serialA = await serialOf('a');
    const serialC = await serialOf('c');
    assert.notEqual(serialA, serialC, 'two certificates of one SPIFFE ID, two serials');
    const answer = await revoke(serialA);
    revokedA = answer.serial;
    assert.equal(answer.serial, normalizeSerial(serialA));
    assert.equal(answer.spiffeId, FRONTEND);
    assert.equal(answer.known, true);
    // A's stream is ended, so A never ACKs; B is the end that must hold the list.
    await bundleAckedBy(['b', 'c', 'd']);
    // ACKed on B's main thread; its L7 thread takes the list a moment later.
    await waitFor(
      async () => ((await fresh('a', '/until-refused')) !== 200 ? true : undefined),
      10_000,
      () => 'a new connection from A to be refused',
    );

    const refusedBefore = await refusedRevoked('b');
    const seen = backend.seen.length;
    const status = await fresh('a', '/after-revocation/a');
    // 502 today, not the 503 of a refused handshake: B checks the list after
    // the handshake (node:tls has no hook inside it), and under TLS 1.3 A's
    // side of the handshake is complete by then, so A sees its connection
    // reset. Either way the request is refused, not served.
    assert.ok(status === 502 || status === 503, `A's client gets a gateway error, not ${status}`);
    assert.equal(
      await waitFor(
        async () => {
          const now = await refusedRevoked('b');
          return now > refusedBefore ? now : undefined;
        },
        5_000,
        () => `B to count ${REVOKED_REASON}`,
      ),
      refusedBefore + 1,
      'one new connection, one refusal',
    );
    assert.equal(backend.seen.length, seen, 'nothing from A reached the upstream');

    // C names the same SPIFFE ID with a serial not on the list: served, as it was.
    assert.equal(await fresh('c', '/after-revocation/c'), 200);
    assert.equal(backend.seen.at(-1)?.path, '/after-revocation/c');
    assert.equal(backend.seen.at(-1)?.headers[PEER_HEADER], FRONTEND);
    assert.equal(await refusedRevoked('b'), refusedBefore + 1, "C's handshake was not refused");
  });

  it("refuses the server-side proxy's revoked certificate at the client-side cluster; another serial of the same ID goes on", async () => {
    const serialB = await serialOf('b');
    const serialD = await serialOf('d');
    assert.notEqual(serialB, serialD);
    assert.equal((await revoke(serialB)).spiffeId, USERS);
    await bundleAckedBy(['c', 'd']);
    const identityFailures = (): Promise<number> =>
      metric(adminUrl.c, 'streammesh_http_upstream_tls_failures_total', {
        cluster: 'users',
        reason: 'server_identity',
      });
    await waitFor(
      async () => ((await fresh('c', '/until-refused')) !== 200 ? true : undefined),
      10_000,
      () => "C's cluster to refuse B",
    );

    const failuresBefore = await identityFailures();
    const seen = backend.seen.length;
    assert.equal(await fresh('c', '/after-revocation/c-to-b'), 503);
    assert.equal(await identityFailures(), failuresBefore + 1);
    assert.equal(backend.seen.length, seen, 'nothing was sent to B');

    // D presents the same SPIFFE ID as B with a serial not on the list.
    assert.equal(await fresh('c', '/after-revocation/c-to-d', 'd'), 200);
    assert.equal(backend.seen.at(-1)?.path, '/after-revocation/c-to-d');

    // The list, as an operator reads it: both revocations, with whose certificates they were.
    const { body } = await getJson<{ revoked: RevokedView[] }>(`${planeUrl}/certificates/revoked`);
    assert.deepEqual(
      body.revoked.map((entry) => [entry.serial, entry.spiffeId]).sort(),
      [
        [revokedA, FRONTEND],
        [normalizeSerial(serialB), USERS],
      ].sort(),
    );
  });
});
