/**
 * The chart's wiring, run the closest honest way without a kubelet: the
 * chart rendered by helm, the CRDs and every rendered object applied to a
 * real API server (server-side apply: its schemas and defaults decide),
 * then the mesh's processes started exactly as the rendered pod specs say
 * (command from the Dockerfile's ENTRYPOINT and the spec's args, env, ports,
 * volumes, a real ServiceAccount token bound to each Pod, the user and the
 * read-only root) by test/helpers/kube/pods.ts, each in a network namespace
 * of its own standing in for a pod. The control plane replicas find the API
 * server in-cluster (KUBERNETES_SERVICE_HOST), elect a leader over a Lease,
 * keep the CA in a Secret and check the nodes' tokens with TokenReview;
 * nodes reach the control plane by its Service name (resolved through the
 * pods' /etc/hosts to both replicas: only the leader listens).
 *
 * - A Camera applied with kubectl makes the camera watchable through the
 *   proxy (RTSP PLAY from outside the pods, RTP arriving).
 * - An EndpointSlice change moves HTTP traffic through the proxy's
 *   listener. The test writes the EndpointSlices, as the EndpointSlice
 *   controller (not running here) would from the Service's ready pods.
 * - Killing the leader control plane (SIGKILL) hands over within 15 s: the
 *   follower becomes ready, the nodes reconnect to it, and a Camera applied
 *   after the handover reaches the proxy.
 *
 * Not covered (README): scheduling, image pulls and the image itself,
 * kube-proxy and CNI (Service names resolve through /etc/hosts, pods reach
 * each other on one bridge), host networking on real nodes, kubelet's
 * restarts and probes' consequences (the test reads readiness itself).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { startKubeApiServer, type KubeApiServer } from '../../helpers/kube/api-server.js';
import {
  removeHosts,
  removeMountPoints,
  startPod,
  type PodTemplate,
  type RunningPod,
} from '../../helpers/kube/pods.js';
import { forwardTcp, netnsUnavailable, NetnsLab } from '../../helpers/netns.js';
import { freePort } from '../../helpers/ports.js';
import { repoRoot, waitFor } from '../../helpers/process.js';
import { startRtspCamera, type RtspCamera } from '../../helpers/peers/rtsp-camera.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';

after(stopAllPeers);

const RELEASE = 'streammesh';
const NAMESPACE = 'streammesh';
const CHART = join(repoRoot, 'helm', 'streammesh');
const HTTP_PORT = 15001;
const RTSP_PORT = 8554;
const CONTROL_PLANE_ADMIN = 15100;
/** The bound for a follower to lead after the leader dies. */
const HANDOVER_BOUND_MS = 15_000;

/** The test's values: one signaling pod, an HTTP cluster fed by a Service's EndpointSlices. */
const VALUES = `
signaling:
  replicas: 1
config:
  proxy:
    http:
      listeners:
        - { name: edge, listen: 0.0.0.0:${HTTP_PORT}, protocol: auto }
      routes:
        - { name: api, match: { path: { prefix: / } }, action: { cluster: api } }
      clusters:
        - { name: api, endpoints: [], service: { name: api, port: http } }
`;

interface Manifest {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly spec?: { readonly template?: PodTemplate; readonly replicas?: number };
}

/** The image's ENTRYPOINT and WORKDIR, read from the Dockerfile the chart's image is built from. */
function dockerImage(): { entrypoint: string[]; workdir: string } {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const entrypoint = [...dockerfile.matchAll(/^ENTRYPOINT\s+(\[.*\])\s*$/gm)].at(-1)?.[1];
  const workdir = [...dockerfile.matchAll(/^WORKDIR\s+(\S+)\s*$/gm)].at(-1)?.[1];
  assert.ok(
    entrypoint !== undefined && workdir !== undefined,
    'the Dockerfile names ENTRYPOINT and WORKDIR',
  );
  return { entrypoint: JSON.parse(entrypoint) as string[], workdir };
}

function podTemplate(manifests: readonly Manifest[], kind: string): PodTemplate {
  const workload = manifests.find((manifest) => manifest.kind === kind);
  const template = workload?.spec?.template;
  assert.ok(template !== undefined, `the chart renders a ${kind} with a pod template`);
  return template;
}

/** A backend that answers with its own name. */
async function namedBackend(host: string, name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_request, response) => {
    response.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const address = server.address();
  assert.ok(address !== null && typeof address !== 'string');
  return { server, port: address.port };
}

describe(
  'the chart run as its pod specs say, against a real API server',
  { skip: netnsUnavailable() ?? false },
  () => {
    let lab: NetnsLab | undefined;
    let kube: KubeApiServer | undefined;
    let camera: RtspCamera | undefined;
    let cameraForward: { port: number; close(): Promise<void> } | undefined;
    const backends: { server: Server; port: number }[] = [];
    const pods = new Map<string, RunningPod>();
    let adminToken = '';

    const server = (): KubeApiServer => kube ?? assert.fail('no API server');
    const network = (): NetnsLab => lab ?? assert.fail('no network');
    const pod = (name: string): RunningPod => pods.get(name) ?? assert.fail(`no pod ${name}`);
    const controlPlanes = [
      'streammesh-control-plane-6d4b9c-k2x7q',
      'streammesh-control-plane-6d4b9c-p9m4z',
    ];
    const proxyPod = 'streammesh-proxy-h8t5w';
    const signalingPod = 'streammesh-signaling-0';

    const ready = async (name: string): Promise<boolean> =>
      fetch(`http://${pod(name).ip}:${CONTROL_PLANE_ADMIN}/readyz`, {
        signal: AbortSignal.timeout(1_000),
      })
        .then((response) => response.status === 200)
        .catch(() => false);

    const leader = async (): Promise<string | undefined> => {
      const states = await Promise.all(
        controlPlanes.map(async (name) => ((await ready(name)) ? name : undefined)),
      );
      const leading = states.filter((name) => name !== undefined);
      assert.ok(
        leading.length <= 1,
        `at most one control plane is ready (the leader): ${leading.join(', ')}`,
      );
      return leading[0];
    };

    const nodesOf = async (controlPlane: string): Promise<{ id: string; state?: string }[]> => {
      const response = await fetch(`http://${pod(controlPlane).ip}:${CONTROL_PLANE_ADMIN}/nodes`, {
        headers: { authorization: `Bearer ${adminToken}` },
        signal: AbortSignal.timeout(2_000),
      });
      return ((await response.json()) as { nodes: { id: string; state?: string }[] }).nodes;
    };

    /** RTSP DESCRIBE, SETUP (interleaved) and PLAY of `path` at the proxy pod; undefined when refused. */
    const play = async (path: string): Promise<RtspTestClient | undefined> => {
      const url = `rtsp://${pod(proxyPod).ip}:${RTSP_PORT}/${path}`;
      const client = await RtspTestClient.connect(RTSP_PORT, pod(proxyPod).ip);
      const described = await client.request('DESCRIBE', url);
      const setup =
        described?.status === 200
          ? await client.request('SETUP', `${url}/trackID=0`, {
              Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
            })
          : undefined;
      const session = setup?.headers.get('Session')?.split(';')[0];
      if (
        session === undefined ||
        (await client.request('PLAY', url, { Session: session }))?.status !== 200
      ) {
        client.close();
        return undefined;
      }
      return client;
    };

    const rtpCount = (client: RtspTestClient): number =>
      client.frames.filter(({ channel }) => channel === 0).length;

    /** RTP packets of `path` a viewer at the proxy pod gets in `ms`. */
    const watch = async (path: string, ms: number): Promise<number> => {
      const client = await play(path);
      if (client === undefined) return 0;
      try {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return rtpCount(client);
      } finally {
        client.close();
      }
    };

    const applyCamera = async (name: string): Promise<void> => {
      await server().kubectl(
        ['-n', NAMESPACE, 'apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'streammesh.io/v1alpha1',
          kind: 'Camera',
          metadata: { name, namespace: NAMESPACE },
          spec: {
            source: `rtsp://${network().rootAddress}:${cameraForward?.port ?? 0}/test`,
            transport: 'tcp',
          },
        }),
      );
    };

    const conditionOf = async (kind: string, name: string, type: string): Promise<string> =>
      server().kubectl([
        ...['-n', NAMESPACE, 'get', kind, name],
        `-o=jsonpath={.status.conditions[?(@.type=="${type}")].status}`,
      ]);

    const writeEndpointSlice = async (port: number): Promise<void> => {
      // What the EndpointSlice controller would write for the Service's one ready pod.
      await server().kubectl(
        ['-n', NAMESPACE, 'apply', '--server-side', '--force-conflicts', '-f', '-'],
        JSON.stringify({
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            name: 'api-abcde',
            namespace: NAMESPACE,
            labels: { 'kubernetes.io/service-name': 'api' },
          },
          addressType: 'IPv4',
          ports: [{ name: 'http', port, protocol: 'TCP' }],
          endpoints: [{ addresses: [network().rootAddress], conditions: { ready: true } }],
        }),
      );
    };

    const answerThroughProxy = async (): Promise<string | undefined> =>
      fetch(`http://${pod(proxyPod).ip}:${HTTP_PORT}/`, { signal: AbortSignal.timeout(2_000) })
        .then(async (response) => (response.status === 200 ? response.text() : undefined))
        .catch(() => undefined);

    before(async () => {
      lab = NetnsLab.create(['cp-a', 'cp-b', 'node-a', 'sfu-0']);
      kube = await startKubeApiServer({ address: lab.rootAddress });
      const apiPort = Number(new URL(kube.url).port);
      const cameraPort = await freePort();
      camera = await startRtspCamera({ port: cameraPort, path: 'test', timeoutMs: 600_000 });
      cameraForward = await forwardTcp(lab.rootAddress, cameraPort);
      backends.push(await namedBackend(lab.rootAddress, 'backend-a'));
      backends.push(await namedBackend(lab.rootAddress, 'backend-b'));

      await kube.kubectl(['create', 'namespace', NAMESPACE]);
      await kube.kubectl(['apply', '--server-side', '-f', join(CHART, 'crds')]);
      await kube.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
      const valuesFile = join(kube.dir, 'values.yaml');
      writeFileSync(valuesFile, VALUES);
      const rendered = await kube.helm([
        'template',
        RELEASE,
        CHART,
        '-n',
        NAMESPACE,
        '-f',
        valuesFile,
      ]);
      await kube.kubectl(['apply', '--server-side', '-f', '-'], rendered);
      const manifests = parseAllDocuments(rendered)
        .map((document) => document.toJS() as Manifest | null)
        .filter((manifest): manifest is Manifest => manifest !== null);
      adminToken = Buffer.from(
        await kube.kubectl([
          '-n',
          NAMESPACE,
          'get',
          'secret',
          `${RELEASE}-admin-token`,
          '-o=jsonpath={.data.token}',
        ]),
        'base64',
      ).toString('utf8');
      // The Service HTTP cluster `api` is fed from (its selector matches nothing: the test writes its slices).
      await kube.kubectl(
        ['-n', NAMESPACE, 'apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'api', namespace: NAMESPACE },
          spec: { selector: { app: 'api' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
        }),
      );

      const image = dockerImage();
      const [cpA, cpB, nodeA, sfu0] = ['cp-a', 'cp-b', 'node-a', 'sfu-0'].map((name) =>
        lab?.node(name),
      );
      assert.ok(cpA && cpB && nodeA && sfu0);
      const controlPlaneService = [
        `${RELEASE}-control-plane.${NAMESPACE}.svc`,
        `${RELEASE}-control-plane.${NAMESPACE}.svc.cluster.local`,
      ];
      const hosts: Record<string, string[]> = {};
      for (const name of controlPlaneService) hosts[name] = [cpA.address, cpB.address];
      hosts[`${RELEASE}-rtsp.${NAMESPACE}.svc`] = [nodeA.address];
      hosts[`${signalingPod}.${RELEASE}-signaling-headless.${NAMESPACE}.svc`] = [sfu0.address];
      const start = async (name: string, kind: string, node: typeof cpA): Promise<void> => {
        pods.set(
          name,
          await startPod({
            kube: server(),
            namespace: NAMESPACE,
            name,
            template: podTemplate(manifests, kind),
            image,
            network: { netns: node.ns, ip: node.address, hosts },
            nodeName: node.name,
            apiServer: { host: network().rootAddress, port: apiPort },
          }),
        );
      };
      await start(controlPlanes[0] ?? '', 'Deployment', cpA);
      await start(controlPlanes[1] ?? '', 'Deployment', cpB);
      await waitFor(
        leader,
        60_000,
        () =>
          `a control plane to lead:\n${controlPlanes.map((name) => pods.get(name)?.output().slice(-3000)).join('\n---\n')}`,
      );
      await start(proxyPod, 'DaemonSet', nodeA);
      await start(signalingPod, 'StatefulSet', sfu0);
      await pod(proxyPod).waitReady(60_000);
      await pod(signalingPod).waitReady(60_000);
    });

    after(async () => {
      await Promise.all([...pods.values()].map(async (running) => running.stop()));
      removeMountPoints();
      for (const node of lab?.nodes ?? []) removeHosts(node.ns);
      for (const { server: backend } of backends) backend.close();
      await cameraForward?.close();
      await camera?.stop();
      await kube?.close();
      lab?.close();
    });

    it('serves every node from the elected control plane, over certificates got with ServiceAccount tokens', async () => {
      const leading = await leader();
      assert.ok(leading !== undefined);
      const nodes = await waitFor(
        async () => {
          const listed = await nodesOf(leading);
          return [proxyPod, signalingPod].every((id) => listed.some((node) => node.id === id))
            ? listed
            : undefined;
        },
        30_000,
        () => 'the proxy and signaling pods to register with the leader',
      );
      assert.ok(nodes.length >= 2);
      const holder = await server()
        .kubectl([
          '-n',
          NAMESPACE,
          'get',
          'lease',
          `${RELEASE}-control-plane`,
          '-o=jsonpath={.spec.holderIdentity}',
        ])
        .catch(() =>
          server().kubectl([
            '-n',
            NAMESPACE,
            'get',
            'lease',
            '-o=jsonpath={.items[0].spec.holderIdentity}',
          ]),
        );
      assert.match(holder, new RegExp(`^${leading}`), 'the Lease names the ready replica');
    });

    it('makes a Camera applied with kubectl watchable through the proxy', async () => {
      await applyCamera('lobby');
      await waitFor(
        async () =>
          (await conditionOf('camera', 'lobby', 'Programmed')) === 'True' ? true : undefined,
        30_000,
        () => 'Camera lobby to be Programmed',
      );
      assert.equal(await conditionOf('camera', 'lobby', 'Accepted'), 'True');
      const packets = await waitFor(
        async () => {
          const seen = await watch('lobby', 1_500);
          return seen > 0 ? seen : undefined;
        },
        30_000,
        () => 'RTP of the Camera through the proxy pod',
      );
      assert.ok(packets > 0);
    });

    it('moves HTTP traffic when the Service EndpointSlice changes', async () => {
      const [a, b] = backends;
      assert.ok(a && b);
      await writeEndpointSlice(a.port);
      await waitFor(
        async () => ((await answerThroughProxy()) === 'backend-a' ? true : undefined),
        30_000,
        () => 'traffic to backend-a',
      );
      await writeEndpointSlice(b.port);
      await waitFor(
        async () => ((await answerThroughProxy()) === 'backend-b' ? true : undefined),
        30_000,
        () => 'traffic to move to backend-b',
      );
      for (let request = 0; request < 10; request++) {
        assert.equal(await answerThroughProxy(), 'backend-b', 'every request follows the slice');
      }
    });

    it('hands over to the other replica within 15 s when the leader is killed, and the nodes follow', async () => {
      const old = await leader();
      assert.ok(old !== undefined);
      const follower = controlPlanes.find((name) => name !== old) ?? assert.fail('no follower');
      // A viewer of the Camera applied earlier watches through the handover:
      // the new leader must push its custom resources with its first config,
      // or the proxy would close the path (and this session) in between.
      const viewer = (await play('lobby')) ?? assert.fail('lobby plays before the handover');
      let viewerClosed = false;
      void viewer.closed.then(() => {
        viewerClosed = true;
      });
      const killedAt = performance.now();
      pod(old).signal('SIGKILL');
      await pod(old).exited();
      await waitFor(
        async () => ((await ready(follower)) ? true : undefined),
        HANDOVER_BOUND_MS + 5_000,
        () => `${follower} to lead:\n${pod(follower).output().slice(-3000)}`,
      );
      const handoverMs = performance.now() - killedAt;
      console.log(`# handover after SIGKILL of the leader: ${Math.round(handoverMs)} ms`);
      assert.ok(
        handoverMs < HANDOVER_BOUND_MS,
        `the follower led ${Math.round(handoverMs)} ms after the kill`,
      );
      await waitFor(
        async () => {
          const listed = await nodesOf(follower);
          return [proxyPod, signalingPod].every((id) => listed.some((node) => node.id === id))
            ? true
            : undefined;
        },
        30_000,
        () => 'the nodes to reconnect to the new leader',
      );
      const before = rtpCount(viewer);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      assert.equal(
        viewerClosed,
        false,
        'the viewer of a Camera kept its session through the handover',
      );
      assert.ok(rtpCount(viewer) > before, 'and kept receiving RTP from the new leader on');
      viewer.close();
      // The new leader programs what is applied now: a second Camera reaches the proxy.
      await applyCamera('yard');
      await waitFor(
        async () => ((await watch('yard', 1_500)) > 0 ? true : undefined),
        30_000,
        () => 'the Camera applied after the handover to play through the proxy',
      );
    });
  },
);
