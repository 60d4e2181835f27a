/**
 * Renewal and CA rotation under load (issue 17's test): `streammesh up`
 * (mTLS on, the mesh CA in a temp state directory, certificates of 10 s so
 * every node renews every 5 s) with two proxies, frontend on 127.0.0.11 and
 * users on 127.0.0.12. Proxy A's L7 listener sends every request over mesh
 * mTLS to proxy B's mesh listener (which allows only frontend), and on to a
 * small HTTP upstream here. The hop is HTTP/1.1 and B closes a connection
 * idle for 150 ms, while the load comes in bursts of 10 every 200 ms: so
 * the burst's connections are new ones, tens of mutual TLS handshakes a
 * second, each with the certificates and bundle held at that moment (a
 * pooled connection would keep the ones it was made with, and show
 * nothing of a rotation); a GStreamer RTSP camera is carried by one proxy
 * and viewed through both, so one viewer is behind an SRTP proxy-to-proxy
 * hop.
 *
 * Under a loop of 50 HTTP requests/s and the two viewers: renewals run, an
 * operator POSTs /ca/rotate, waits until GET /ca shows every node on a
 * certificate of the new root, POSTs /ca/retire, and the mesh runs on.
 * Then: every request succeeded, neither viewer missed a sequence number,
 * every node renewed several times, the bundle holds the new root alone,
 * every node's last certificate is from it, and the control plane's gRPC
 * listener presents a certificate that the new root signed.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { bearer, newAdminToken } from '../../helpers/admin-token.js';
import { getJson } from '../../helpers/http.js';
import { startBackend, type Backend } from '../../helpers/l7-harness.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { freePort } from '../../helpers/ports.js';
import { startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { RtspSequenceViewer } from '../../helpers/rtsp-sequence-viewer.js';
import type { CaView } from '../../../src/control-plane/ca-rotation.js';
import { BUNDLE_FILE, defaultCaDirectory } from '../../../src/shared/identity/index.js';

after(stopAllPeers);

const TRUST_DOMAIN = 'streammesh.local';
const FRONTEND = `spiffe://${TRUST_DOMAIN}/ns/default/sa/frontend`;
const USERS = `spiffe://${TRUST_DOMAIN}/ns/default/sa/users`;
const A = '127.0.0.11';
const B = '127.0.0.12';
/** The renewals a node's metrics count, whatever the order of the labels. */
const RENEWALS =
  /streammesh_node_certificate_requests_total\{(?=[^}]*kind="renewal")(?=[^}]*result="issued")[^}]*\} (\d+)/;
/** 50 requests a second, in bursts. */
const BURST = 10;
const BURST_EVERY_MS = 200;

interface HttpResult {
  readonly at: number;
  readonly status: number;
  readonly error?: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function get(host: string, port: number, path: string): Promise<HttpResult> {
  const at = performance.now();
  return new Promise((resolve) => {
    const req = request({ host, port, path, agent, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ at, status: res.statusCode ?? 0 }));
      res.on('error', (error) => resolve({ at, status: 0, error: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (error) => resolve({ at, status: 0, error: error.message }));
    req.end();
  });
}

/** The leaf the TLS server at host:port presents. */
function serverLeaf(host: string, port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: 'control-plane.streammesh',
      ALPNProtocols: ['h2'],
      // Checked below against the new root, by hand.
      rejectUnauthorized: false,
    });
    socket.once('secureConnect', () => {
      const leaf = new X509Certificate(socket.getPeerCertificate().raw);
      socket.destroy();
      resolve(leaf);
    });
    socket.once('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error('TLS handshake timeout')));
  });
}

/** The first series of `pattern` at url/metrics; 0 before it exists (a counter not yet counted). */
async function metricValue(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

describe('CA rotation under HTTP load and a running SRTP hop', { timeout: 180_000 }, () => {
  const token = newAdminToken();
  const state = mkdtempSync(join(tmpdir(), 'streammesh-ca-rotation-'));
  let backend: Backend;
  let camera: RtspCamera;
  let up: Running | undefined;
  let planeUrl = '';
  let proxyUrls: string[] = [];
  let grpcPort = 0;
  let localPort = 0;
  let rtspPort = 0;
  const viewers: RtspSequenceViewer[] = [];

  before(async () => {
    backend = await startBackend('users');
    const cameraPort = await freePort();
    camera = await startRtspCamera({ port: cameraPort, path: 'cam', timeoutMs: 170_000 });
    grpcPort = await freePort((port) => port !== cameraPort);
    localPort = await freePort((port) => ![cameraPort, grpcPort].includes(port));
    const meshPort = await freePort((port) => ![cameraPort, grpcPort, localPort].includes(port));
    rtspPort = await freePort(
      (port) => ![cameraPort, grpcPort, localPort, meshPort].includes(port),
    );
    const config = [
      'logLevel: info',
      'controlPlane:',
      '  heartbeatIntervalMs: 200',
      '  staleAfterMissedHeartbeats: 5',
      '  ca: { leafLifetimeSec: 10 }',
      'proxy:',
      '  admin: 127.0.0.1:0',
      '  instances:',
      `    - { id: proxy-a, host: "${A}", serviceAccount: frontend }`,
      `    - { id: proxy-b, host: "${B}", serviceAccount: users }`,
      '  rtsp:',
      `    listen: 127.0.0.1:${rtspPort}`,
      '    demo: false',
      '    paths:',
      `      cam1: { source: "${camera.url}", transport: tcp }`,
      '  http:',
      '    listeners:',
      `      - { name: local, listen: "127.0.0.1:${localPort}" }`,
      `      - name: mesh`,
      `        listen: "127.0.0.1:${meshPort}"`,
      '        idleTimeoutMs: 150',
      '        tls: { mode: mesh }',
      `        authorization: { default: deny, rules: [{ action: allow, from: ["${FRONTEND}"] }] }`,
      '    routes:',
      // A request on a connection B closes at that moment is reset: retried; a refused handshake is not.
      '      - { name: to-users, listener: local, match: { path: { prefix: / } }, action: { cluster: users, retries: { attempts: 2, on: [reset] } } }',
      '      - { name: to-app, listener: mesh, match: { path: { prefix: / } }, action: { cluster: app } }',
      '    clusters:',
      `      - { name: users, endpoints: ["${B}:${meshPort}"], tls: { mode: mesh, spiffeIds: ["${USERS}"] } }`,
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
      STREAMMESH_CONTROL_PLANE_GRPC: `127.0.0.1:${grpcPort}`,
    });
    const plane = await up.waitForOutput(/^control-plane +ready +(http:\/\/\S+)/m, 15_000);
    planeUrl = plane[1] ?? '';
    proxyUrls = [];
    for (const id of ['proxy-a', 'proxy-b']) {
      const ready = await up.waitForOutput(new RegExp(`^${id} +ready +(http://\\S+)`, 'm'), 30_000);
      proxyUrls.push(ready[1] ?? '');
    }
    // Both proxies hold their config, and the mesh listener its certificate.
    await waitFor(
      async () => ((await get(A, localPort, '/warm')).status === 200 ? true : undefined),
      20_000,
      () => `a request through A -> B:\n${up?.stderr().slice(-3_000) ?? ''}`,
    );
    for (const host of [A, B]) {
      viewers.push(
        await waitFor(
          () => RtspSequenceViewer.play(host, rtspPort, 'cam1').catch(() => undefined),
          20_000,
          () => `cam1 to play at ${host}`,
        ),
      );
    }
    await waitFor(
      () => (viewers.every((viewer) => viewer.packets.length > 50) ? true : undefined),
      20_000,
      () => 'packets at both viewers',
    );
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    await up?.stop('SIGTERM', 10_000);
    await camera.stop();
    await backend.close();
    agent.destroy();
    rmSync(state, { recursive: true, force: true });
  });

  it('rotates and retires the root with no failed request and no lost packet', async (t) => {
    const admin = bearer(token);
    const caView = async (): Promise<CaView> => (await getJson<CaView>(`${planeUrl}/ca`)).body;
    const initial = await caView();
    assert.equal(initial.roots.length, 1);
    const oldRoot = initial.roots[0]?.fingerprint256;
    const renewalsBefore = await Promise.all(proxyUrls.map((url) => metricValue(url, RENEWALS)));

    // The load: a burst every 200 ms, each request on its own (no waiting for the last).
    const results: Promise<HttpResult>[] = [];
    const loadFrom = performance.now();
    const loop = setInterval(() => {
      for (let i = 0; i < BURST; i += 1) results.push(get(A, localPort, `/load/${results.length}`));
    }, BURST_EVERY_MS);
    let rotatedAt = 0;
    let onNewRootAt = 0;

    try {
      // A renewal or so of every node before the rotation.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      rotatedAt = performance.now();
      const rotated = await fetch(`${planeUrl}/ca/rotate`, { method: 'POST', headers: admin });
      assert.equal(rotated.status, 202, await rotated.clone().text());
      const afterRotate = (await rotated.json()) as CaView;
      assert.equal(afterRotate.roots.length, 2);
      // Nobody holds a certificate of the new root yet: the nodes move to it by renewing.
      assert.equal(afterRotate.everyNodeOnIssuer, false);
      assert.ok(afterRotate.nodes.every((node) => node.certificate?.fromIssuer === false));
      const newRoot = afterRotate.roots.find((root) => root.issuer)?.fingerprint256;
      assert.ok(newRoot !== undefined && newRoot !== oldRoot);

      // Every node renews on its own schedule: at most half of 10 s, plus a retry.
      const onNewRoot = await waitFor(
        async () => {
          const view = await caView();
          return view.everyNodeOnIssuer && !view.rotationPending && view.nodes.length >= 3
            ? view
            : undefined;
        },
        30_000,
        () => 'every node on a certificate of the new root',
      );
      onNewRootAt = performance.now();
      assert.equal(onNewRoot.controlPlaneRoot, newRoot);

      const retired = await fetch(`${planeUrl}/ca/retire`, { method: 'POST', headers: admin });
      assert.equal(retired.status, 200, await retired.clone().text());
      // The cut bundle reaches every node, and the mesh runs on it through renewals.
      await waitFor(
        async () => {
          const view = await caView();
          return view.nodes.every((node) => node.bundleAcked) ? true : undefined;
        },
        10_000,
        () => 'every node to ACK the bundle of the new root alone',
      );
      await new Promise((resolve) => setTimeout(resolve, 6_000));
    } finally {
      clearInterval(loop);
    }
    const loadTo = performance.now();
    const answers = await Promise.all(results);
    const failed = answers.filter((answer) => answer.status !== 200);
    assert.ok(
      answers.length >= ((loadTo - loadFrom) / BURST_EVERY_MS) * BURST * 0.8,
      'the load ran',
    );
    assert.deepEqual(
      failed.slice(0, 5),
      [],
      `${failed.length} of ${answers.length} requests failed`,
    );

    // No packet lost at either viewer, one of which is behind the proxy-to-proxy hop.
    const hops = (await getJson<{ hops: { session: string }[] }>(`${planeUrl}/hops`)).body;
    assert.ok(
      hops.hops.some((hop) => hop.session === 'camera/cam1'),
      'cam1 crosses a hop',
    );
    for (const viewer of viewers) {
      assert.ok(viewer.between(loadFrom, loadTo).length > 100, 'packets flowed meanwhile');
      assert.equal(viewer.ssrcs().size, 1);
      assert.equal(
        viewer.missing(loadFrom, loadTo),
        0,
        `no packet missing: ${viewer.holes(loadFrom, loadTo).join('; ')}`,
      );
    }

    // Renewals happened meanwhile (every 5 s).
    const renewals: number[] = [];
    for (const [index, url] of proxyUrls.entries()) {
      const during = (await metricValue(url, RENEWALS)) - (renewalsBefore[index] ?? 0);
      renewals.push(during);
      assert.ok(during >= 3, `${url}: ${during} renewals`);
    }
    t.diagnostic(
      `${answers.length} requests in ${Math.round(loadTo - loadFrom)} ms, all 200; ` +
        `every node on the new root ${Math.round(onNewRootAt - rotatedAt)} ms after POST /ca/rotate; ` +
        `renewals per proxy ${renewals.join(', ')}; ` +
        `packets per viewer ${viewers.map((viewer) => viewer.between(loadFrom, loadTo).length).join(', ')}, none missing`,
    );

    // The end state: the new root alone, every node's certificate and the control plane's from it.
    const final = await caView();
    assert.deepEqual(
      final.roots.map((root) => root.fingerprint256),
      [final.roots.find((root) => root.issuer)?.fingerprint256],
    );
    const newRoot = final.roots[0]?.fingerprint256;
    assert.notEqual(newRoot, oldRoot);
    for (const node of final.nodes) {
      assert.equal(node.certificate?.rootFingerprint256, newRoot, node.id);
      assert.equal(node.bundleAcked, true, node.id);
    }
    assert.equal(final.controlPlaneRoot, newRoot);
    // The bundle file the CA keeps (what a new node starts from) holds the new root alone.
    const leaf = await serverLeaf('127.0.0.1', grpcPort);
    const bundleFile = readFileSync(
      join(defaultCaDirectory({ XDG_STATE_HOME: state }), BUNDLE_FILE),
      'utf8',
    );
    assert.equal(bundleFile.split('-----BEGIN CERTIFICATE-----').length - 1, 1);
    const root = new X509Certificate(bundleFile);
    assert.equal(root.fingerprint256, newRoot);
    assert.ok(leaf.verify(root.publicKey), 'the gRPC certificate is signed by the new root');
    assert.ok(leaf.subjectAltName?.includes('/sa/control-plane'));
  });
});
