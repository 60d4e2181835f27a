/**
 * Identity on Kubernetes against a real API server (etcd and kube-apiserver
 * on loopback, with a ServiceAccount signing key: `kubectl create token`
 * mints real tokens and TokenReview checks them for real):
 *
 * - two control planes with registry: kubernetes (leader election off,
 *   free ports) started at the same moment make one CA root between them:
 *   the Secret (kubernetes.io/tls) one of them created, the other reading it
 *   (after a 409 if they raced), so both issue from the same root (same
 *   fingerprint); the trust bundle is published in the ConfigMap
 *   streammesh-trust-bundle, and rewritten at start when it differs;
 * - a real proxy process whose bootstrapTokenFile is a real token of the
 *   ServiceAccount streammesh-proxy bound to its Pod (as the chart's
 *   projected token) and
 *   whose trust bundle is that ConfigMap's bundle.pem (what kubelet would
 *   mount) gets its certificate, registers over mutual TLS, and its
 *   certificate names spiffe://<td>/ns/<ns>/sa/streammesh-proxy; the token
 *   file holds a refused token first and is replaced while the node retries
 *   (as kubelet rotates it): the node reads it again, it is not cached;
 * - rotation is refused there (409, naming the Secret): a rotation would
 *   have to reach every replica, which reads the Secret only at start;
 * - only the mesh's workloads (the control plane's proxy.identity and
 *   signaling.identity) are certified, and only with a token bound to a
 *   Pod: a pod-bound token of another ServiceAccount, or of a ServiceAccount
 *   named as the proxy's in another namespace, is PERMISSION_DENIED
 *   not_mesh_workload whatever it asks for (its own identity included); the
 *   proxy ServiceAccount's unbound token is PERMISSION_DENIED unbound_token;
 *   a pod-bound token asking for another node id is PERMISSION_DENIED (the
 *   pod's own name is granted); a token for another audience and a garbage
 *   token are UNAUTHENTICATED; with the API server gone, a token not
 *   reviewed before gets UNAVAILABLE, never a certificate; each counted.
 *
 * No kubelet runs: the test writes the token and bundle files kubelet would
 * mount, and the Pods tokens are bound to stay Pending (TokenReview needs
 * them to exist only).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { parseConfigText } from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { createMeshIdentityClient } from '../../../src/protocol/mesh/index.js';
import { formatHostPort, httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText } from '../../helpers/http.js';
import { startKubeApiServer, type KubeApiServer } from '../../helpers/kube/api-server.js';
import { repoRoot, startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { publishedTrustBundle } from '../../helpers/kube/control-plane-config.js';
import {
  channelCredentials,
  issue,
  keyAndCsr,
  TRUST_DOMAIN,
} from '../control-plane/mtls-harness.js';

const NAMESPACE = 'streammesh';
const CA_SECRET = 'streammesh-ca';
const TRUST_BUNDLE_CONFIGMAP = 'streammesh-trust-bundle';
const AUDIENCE = 'streammesh';
const PROXY_SA = 'streammesh-proxy';
const OTHER_SA = 'camera-viewer';
const OTHER_NAMESPACE = 'elsewhere';
const PROXY_ID = `spiffe://${TRUST_DOMAIN}/ns/${NAMESPACE}/sa/${PROXY_SA}`;
const OTHER_ID = `spiffe://${TRUST_DOMAIN}/ns/${NAMESPACE}/sa/${OTHER_SA}`;
const NODE_ID = 'proxy-on-kube';
const BOUND_POD = 'proxy-pod-0';
const REFUSED = 'streammesh_control_plane_certificates_refused_total';

interface NodeView {
  readonly id: string;
  readonly spiffeId: string | null;
  readonly state: string;
}

interface CaView {
  readonly nodes: readonly {
    readonly id: string;
    readonly certificate: { readonly serialNumber: string } | null;
  }[];
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** The value of one sample of a plane's /metrics (0 when absent). */
async function metric(plane: RunningControlPlane, name: string, reason: string): Promise<number> {
  const { text } = await getText(`${httpUrl(plane.admin)}/metrics`);
  const line = text
    .split('\n')
    .find((row) => row.startsWith(`${name}{`) && row.includes(`reason="${reason}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('identity on Kubernetes (real API server)', { timeout: 240_000 }, () => {
  let kube: KubeApiServer;
  let kubeClosed = false;
  let dir: string;
  const planes: RunningControlPlane[] = [];
  const processes: Running[] = [];
  const adminToken = newAdminToken();

  before(async () => {
    kube = await startKubeApiServer();
    dir = mkdtempSync(join(tmpdir(), 'kube-identity-'));
    // The control plane watches these kinds on the kubernetes registry (as the chart installs them).
    const crds = join(repoRoot, 'helm', 'streammesh', 'crds');
    await kube.kubectl(['apply', '-f', crds]);
    await kube.kubectl(['create', 'namespace', NAMESPACE]);
    await kube.kubectl(['create', 'serviceaccount', PROXY_SA, '-n', NAMESPACE]);
    await kube.kubectl(['create', 'serviceaccount', OTHER_SA, '-n', NAMESPACE]);
    await kube.kubectl(['create', 'namespace', OTHER_NAMESPACE]);
    await kube.kubectl(['create', 'serviceaccount', PROXY_SA, '-n', OTHER_NAMESPACE]);
  });

  after(async () => {
    await Promise.all(processes.map(async (running) => running.stop('SIGKILL', 5_000)));
    await Promise.all(planes.map(async (plane) => plane.close()));
    if (!kubeClosed) await kube.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function configText(): string {
    return [
      'logLevel: silent',
      'controlPlane:',
      '  admin: 127.0.0.1:0',
      '  grpc: 127.0.0.1:0',
      '  heartbeatIntervalMs: 200',
      `  trustDomain: ${TRUST_DOMAIN}`,
      '  registry: kubernetes',
      '  kubernetes:',
      `    kubeconfig: ${kube.kubeconfig}`,
      `    namespace: ${NAMESPACE}`,
      `    caSecret: ${CA_SECRET}`,
      `    tokenAudience: ${AUDIENCE}`,
      '    leaderElection: { enabled: false }',
      // The workloads the mesh runs as: the only ServiceAccounts certified.
      'proxy:',
      `  identity: { namespace: ${NAMESPACE}, serviceAccount: ${PROXY_SA} }`,
      'signaling:',
      `  identity: { namespace: ${NAMESPACE}, serviceAccount: streammesh-signaling }`,
      '',
    ].join('\n');
  }

  async function startPlane(name: string): Promise<RunningControlPlane> {
    const plane = await startControlPlane({
      config: parseConfigText(configText(), name),
      // Nothing of this machine's state: no CA directory, no token file is used.
      env: { XDG_STATE_HOME: join(dir, name) },
      log: createLogger(name, 'silent'),
      credentials: AdminCredentials.ofToken(adminToken),
    });
    planes.push(plane);
    return plane;
  }

  function plane(index: number): RunningControlPlane {
    const found = planes[index];
    assert.ok(found !== undefined, `control plane ${index} did not start`);
    return found;
  }

  /** The bundle.pem of the trust bundle ConfigMap, as kubelet would mount it. */
  async function publishedBundle(): Promise<string> {
    return publishedTrustBundle((args) => kube.kubectl(args), TRUST_BUNDLE_CONFIGMAP, NAMESPACE);
  }

  /**
   * A token of `serviceAccount` bound to a Pod `pod` of `namespace` (created
   * here; no kubelet runs it, it stays Pending), as kubelet projects it.
   */
  async function podToken(
    pod: string,
    serviceAccount = PROXY_SA,
    namespace = NAMESPACE,
    audience = AUDIENCE,
  ): Promise<string> {
    await kube.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod, namespace },
        spec: {
          serviceAccountName: serviceAccount,
          automountServiceAccountToken: false,
          containers: [{ name: 'node', image: 'streammesh:test' }],
        },
      }),
    );
    const uid = await kube.kubectl([
      'get',
      'pod',
      pod,
      '-n',
      namespace,
      '-o',
      'jsonpath={.metadata.uid}',
    ]);
    return kube.createToken(namespace, serviceAccount, audience, { name: pod, uid: uid.trim() });
  }

  /** IssueCertificate on `target` with `token`, asking for `id` as `nodeId`. */
  async function ask(target: RunningControlPlane, token: string, id: string, nodeId: string) {
    const bundle = target.identity?.trustBundle() ?? assert.fail('no identity');
    const client = createMeshIdentityClient(
      formatHostPort(target.grpc),
      channelCredentials(bundle),
    );
    try {
      const { csrPem } = await keyAndCsr(id);
      return await issue(client, { csrPem, bootstrapToken: token, nodeId });
    } finally {
      client.close();
    }
  }

  it('makes one CA root in the Secret for two control planes started together, and publishes the bundle', async () => {
    await Promise.all([startPlane('cp-a'), startPlane('cp-b')]);
    const [a, b] = [plane(0), plane(1)];
    const secret = JSON.parse(
      await kube.kubectl(['get', 'secret', CA_SECRET, '-n', NAMESPACE, '-o', 'json']),
    ) as { type: string; data: Record<string, string> };
    assert.equal(secret.type, 'kubernetes.io/tls');
    const kept = Buffer.from(secret.data['tls.crt'] ?? '', 'base64').toString('utf8');
    assert.match(Buffer.from(secret.data['tls.key'] ?? '', 'base64').toString(), /PRIVATE KEY/);
    assert.equal(a.identity?.ca, `Secret ${NAMESPACE}/${CA_SECRET}`);
    // Both sign with the Secret's root: their leaves chain to the same certificate.
    const issuedA = await ask(a, await podToken('a-node'), PROXY_ID, 'a-node');
    const issuedB = await ask(b, await podToken('b-node'), PROXY_ID, 'b-node');
    assert.ok(issuedA.ok && issuedB.ok, "a proxy pod's token was refused its own identity");
    assert.equal(fingerprint(issuedA.value.chainPem), fingerprint(kept));
    assert.equal(fingerprint(issuedB.value.chainPem), fingerprint(kept));
    assert.equal(a.identity.trustBundle(), b.identity?.trustBundle());
    const published = await publishedBundle();
    assert.equal(published, a.identity.trustBundle());
    assert.equal(fingerprint(published), fingerprint(kept));
  });

  it('rewrites a bundle ConfigMap that no longer holds the roots at start', async () => {
    const expected = plane(0).identity?.trustBundle();
    await kube.kubectl([
      'patch',
      'configmap',
      TRUST_BUNDLE_CONFIGMAP,
      '-n',
      NAMESPACE,
      '--type=merge',
      '-p',
      JSON.stringify({ data: { 'bundle.pem': 'stale\n' } }),
    ]);
    const third = await startPlane('cp-c');
    assert.equal(third.identity?.trustBundle(), expected, 'a third plane made another root');
    assert.equal(await publishedBundle(), expected);
  });

  it('refuses POST /ca/rotate on the kubernetes registry, saying how to rotate the Secret', async () => {
    const a = plane(0);
    const before = a.identity?.trustBundle();
    const response = await fetch(`${httpUrl(a.admin)}/ca/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    assert.equal(response.status, 409);
    const { error } = (await response.json()) as { error: string };
    assert.match(
      error,
      new RegExp(`cannot rotate the root kept in Secret ${NAMESPACE}/${CA_SECRET}`),
    );
    assert.equal(a.identity?.trustBundle(), before);
  });

  it('refuses revocations on the kubernetes registry: each replica would keep its own list', async () => {
    const a = plane(0);
    const response = await fetch(`${httpUrl(a.admin)}/certificates/01ab/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    assert.equal(response.status, 409);
    const { error } = (await response.json()) as { error: string };
    assert.match(error, /not shared between control plane replicas/);
  });

  it('certifies a real proxy by its ServiceAccount token, which then registers over mTLS', async () => {
    const a = plane(0);
    // What kubelet would mount: the projected token and the bundle ConfigMap. The token
    // is first one the control plane refuses (minted for another audience), then
    // replaced as kubelet replaces a projected token: the node must read it again.
    const tokenFile = join(dir, 'token');
    const refusedBefore = await metric(a, REFUSED, 'bad_token');
    writeFileSync(tokenFile, await kube.createToken(NAMESPACE, PROXY_SA, 'not-streammesh'), {
      mode: 0o600,
    });
    const bundleFile = join(dir, 'bundle.pem');
    writeFileSync(bundleFile, await publishedBundle());
    const configFile = join(dir, 'proxy.yaml');
    writeFileSync(
      configFile,
      [
        'logLevel: info',
        'controlPlane:',
        `  address: ${formatHostPort(a.grpc)}`,
        `  trustDomain: ${TRUST_DOMAIN}`,
        `  bootstrapTokenFile: ${tokenFile}`,
        `  trustBundleFile: ${bundleFile}`,
        'proxy:',
        `  id: ${NODE_ID}`,
        '  admin: 127.0.0.1:0',
        '  rtsp: { listen: 127.0.0.1:0, demo: false }',
        `  identity: { namespace: ${NAMESPACE}, serviceAccount: ${PROXY_SA} }`,
        '',
      ].join('\n'),
    );
    const proxy = startStreammesh(['proxy', '--config', configFile], {
      STREAMMESH_ADMIN_TOKEN: adminToken,
      XDG_STATE_HOME: join(dir, 'proxy-state'),
    });
    processes.push(proxy);
    await waitFor(
      async () => ((await metric(a, REFUSED, 'bad_token')) > refusedBefore ? true : undefined),
      20_000,
      () => `the first token refused:\n${proxy.stdout().slice(-3000)}`,
    );
    const renewed = join(dir, 'token.new');
    writeFileSync(renewed, await podToken(NODE_ID), { mode: 0o600 });
    renameSync(renewed, tokenFile);
    const view = await waitFor(
      async () => {
        const { body } = await getJson<{ nodes: NodeView[] }>(`${httpUrl(a.admin)}/nodes`);
        return body.nodes.find((node) => node.id === NODE_ID && node.state === 'connected');
      },
      20_000,
      () => `${NODE_ID} connected:\n${proxy.stdout().slice(-3000)}\n${proxy.stderr().slice(-2000)}`,
    );
    // Registered over mutual TLS: the registry takes the ID from the certificate it presented.
    assert.equal(view.spiffeId, PROXY_ID);
    const { body: ca } = await getJson<CaView>(`${httpUrl(a.admin)}/ca`);
    assert.ok(ca.nodes.find((node) => node.id === NODE_ID)?.certificate !== null);
    assert.doesNotMatch(proxy.stdout() + proxy.stderr(), /eyJ/, 'the token was logged');
  });

  it('certifies no ServiceAccount the mesh does not run as, even its own identity: PERMISSION_DENIED', async () => {
    const a = plane(0);
    const before = await metric(a, REFUSED, 'not_mesh_workload');
    // Pod-bound tokens for our audience: all that is wrong is whose they are.
    const other = await podToken('viewer-pod', OTHER_SA);
    const elsewhere = await podToken('proxy-elsewhere', PROXY_SA, OTHER_NAMESPACE);
    const elsewhereId = `spiffe://${TRUST_DOMAIN}/ns/${OTHER_NAMESPACE}/sa/${PROXY_SA}`;
    for (const [token, id, nodeId] of [
      [other, PROXY_ID, 'viewer-pod'],
      [other, OTHER_ID, 'viewer-pod'],
      [elsewhere, PROXY_ID, 'proxy-elsewhere'],
      [elsewhere, elsewhereId, 'proxy-elsewhere'],
    ] as const) {
      const refused = await ask(a, token, id, nodeId);
      assert.ok(!refused.ok, `${id} was certified`);
      assert.equal(refused.error.code, grpc.status.PERMISSION_DENIED, refused.error.details);
      assert.match(refused.error.details, /is not one the mesh runs as/);
    }
    assert.equal(await metric(a, REFUSED, 'not_mesh_workload'), before + 4);
  });

  it("refuses the proxy ServiceAccount's token bound to no pod: PERMISSION_DENIED", async () => {
    const a = plane(0);
    const before = await metric(a, REFUSED, 'unbound_token');
    const unbound = await kube.createToken(NAMESPACE, PROXY_SA, AUDIENCE);
    const refused = await ask(a, unbound, PROXY_ID, 'some-node');
    assert.ok(!refused.ok, 'an unbound token was certified');
    assert.equal(refused.error.code, grpc.status.PERMISSION_DENIED, refused.error.details);
    assert.match(refused.error.details, /not bound to a pod/);
    assert.equal(await metric(a, REFUSED, 'unbound_token'), before + 1);
  });

  it('holds a pod-bound token to its pod: another node id is PERMISSION_DENIED', async () => {
    const a = plane(0);
    const bound = await podToken(BOUND_POD);
    const elsewhere = await ask(a, bound, PROXY_ID, 'proxy-pod-1');
    assert.ok(!elsewhere.ok);
    assert.equal(elsewhere.error.code, grpc.status.PERMISSION_DENIED, elsewhere.error.details);
    assert.match(elsewhere.error.details, new RegExp(`bound to pod ${BOUND_POD}`));
    const own = await ask(a, bound, PROXY_ID, BOUND_POD);
    assert.ok(own.ok, own.ok ? '' : own.error.details);
    assert.match(
      new X509Certificate(own.value.certificatePem).subject,
      new RegExp(`CN=${BOUND_POD}`),
    );
  });

  it('refuses a token for another audience and a garbage token: UNAUTHENTICATED', async () => {
    const a = plane(0);
    const before = await metric(a, REFUSED, 'bad_token');
    const otherAudience = await kube.createToken(NAMESPACE, PROXY_SA, 'some-other-service');
    const wrong = await ask(a, otherAudience, PROXY_ID, 'wrong-audience');
    assert.ok(!wrong.ok);
    assert.equal(wrong.error.code, grpc.status.UNAUTHENTICATED, wrong.error.details);
    const garbage = await ask(a, 'not-a-token-at-all-0123456789', PROXY_ID, 'garbage');
    assert.ok(!garbage.ok);
    assert.equal(garbage.error.code, grpc.status.UNAUTHENTICATED, garbage.error.details);
    for (const refused of [wrong, garbage]) {
      assert.ok(!refused.ok);
      assert.doesNotMatch(refused.error.details, /eyJ|not-a-token/, 'a refusal quoted the token');
    }
    assert.equal(await metric(a, REFUSED, 'bad_token'), before + 2);
  });

  it('answers UNAVAILABLE, never a certificate, while the API server is unreachable', async () => {
    const a = plane(0);
    const unreviewed = await podToken('while-down');
    const before = await metric(a, REFUSED, 'review_unavailable');
    kubeClosed = true;
    await kube.close();
    const answer = await ask(a, unreviewed, PROXY_ID, 'while-down');
    assert.ok(!answer.ok, 'a certificate was issued without a review');
    assert.equal(answer.error.code, grpc.status.UNAVAILABLE, answer.error.details);
    assert.equal(await metric(a, REFUSED, 'review_unavailable'), before + 1);
  });
});
