/**
 * The Pods of the mesh's nodes, against a real API server: a control plane
 * with controlPlane.registry: kubernetes and a real rtp-proxy node whose id
 * is its Pod's name (as the chart sets STREAMMESH_PROXY_ID from
 * metadata.name). GET /nodes shows the node's Pod; a Pod that only starts
 * terminating leaves the node in service (its process drains); once the Pod
 * is deleted the node is stale within a second or two, though its process
 * still runs and heartbeats, instead of never (it would not miss one).
 *
 * There is no scheduler, kubelet or controller-manager here, so the test
 * does what they would: creates the namespace's "default" ServiceAccount
 * (admission needs it), binds the Pod to a node by spec.nodeName (the
 * scheduler), writes its podIP in status and, after a graceful delete,
 * confirms the deletion with a zero grace period (the kubelet, once the
 * container exited).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from '../../helpers/kube/api-server.js';
import { waitFor } from '../../helpers/process.js';
import { startDiscoveryMesh, type DiscoveryMesh, type NodeView } from './discovery-mesh.js';

const NAMESPACE = 'mesh';
const PROXY_ID = 'streammesh-proxy-7x2kq';

describe('Pods: where each node runs, and a deleted Pod is a gone node', () => {
  let kube: KubeApiServer;
  let mesh: DiscoveryMesh;
  const cleanups: (() => Promise<void>)[] = [];

  const node = async (): Promise<NodeView | undefined> =>
    (await mesh.nodes()).find((candidate) => candidate.id === PROXY_ID);
  const nodeWhere = (what: string, check: (view: NodeView) => boolean): Promise<NodeView> =>
    waitFor(
      async () => {
        const view = await node();
        return view !== undefined && check(view) ? view : undefined;
      },
      2_000,
      () => what,
    );

  before(async () => {
    kube = await startKubeApiServer();
    cleanups.push(() => kube.close());
    await kube.kubectl(['create', 'namespace', NAMESPACE]);
    await kube.kubectl(['-n', NAMESPACE, 'create', 'serviceaccount', 'default']);
    mesh = await startDiscoveryMesh({
      kubeconfig: kube.kubeconfig,
      namespace: NAMESPACE,
      proxyId: PROXY_ID,
      http: {},
    });
    cleanups.push(() => mesh.close());
    await waitFor(
      async () => ((await node())?.state === 'connected' ? true : undefined),
      5_000,
      () => `node ${PROXY_ID} connected`,
    );
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('shows the Pod in GET /nodes, keeps a terminating one in service, and marks the node gone once its Pod is deleted', async () => {
    assert.equal((await node())?.pod, null, 'no Pod yet');
    // The Pod the DaemonSet would make (labels as the chart's), bound to a node as the scheduler would.
    await kube.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: PROXY_ID,
          namespace: NAMESPACE,
          labels: {
            'app.kubernetes.io/name': 'streammesh',
            'app.kubernetes.io/component': 'proxy',
          },
        },
        spec: {
          nodeName: 'worker-1',
          containers: [{ name: 'proxy', image: 'streammesh:test' }],
        },
      }),
    );
    // The kubelet's report: the pod's IP.
    await kube.kubectl([
      '-n',
      NAMESPACE,
      'patch',
      'pod',
      PROXY_ID,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { podIP: '10.244.1.7', podIPs: [{ ip: '10.244.1.7' }] } }),
    ]);
    const shown = await nodeWhere(
      'the Pod shown with its IP',
      (view) => view.pod?.podIP === '10.244.1.7',
    );
    const pod = shown.pod ?? assert.fail('no Pod');
    assert.equal(pod.name, PROXY_ID);
    assert.equal(pod.nodeName, 'worker-1');
    assert.equal(pod.deletedAt, null);
    assert.equal(shown.state, 'connected');

    // A graceful delete: the Pod is terminating, its process drains; the node stays in service.
    await kube.kubectl(['-n', NAMESPACE, 'delete', 'pod', PROXY_ID, '--wait=false']);
    const terminating = await nodeWhere(
      'the Pod terminating',
      (view) => view.pod?.terminatingSince !== null,
    );
    assert.equal(terminating.state, 'connected');

    // The kubelet confirms (the container exited): the Pod object goes.
    const deletedAt = Date.now();
    await kube.kubectl(['-n', NAMESPACE, 'delete', 'pod', PROXY_ID, '--grace-period=0', '--force']);
    const gone = await nodeWhere('the node gone', (view) => view.state === 'stale');
    const tookMs = Date.now() - deletedAt;
    assert.notEqual(gone.pod?.deletedAt, null);
    // Its process still runs and heartbeats: without the Pod watch it would stay connected.
    const heartbeatsGoOn = await waitFor(
      async () => {
        const view = await node();
        return view !== undefined && Date.parse(view.lastSeen) > deletedAt + 500 ? view : undefined;
      },
      3_000,
      () => 'a heartbeat after the deletion',
    );
    assert.equal(heartbeatsGoOn.state, 'stale', 'heartbeats do not bring a deleted Pod back');
    assert.ok(tookMs < 2_000, `gone ${tookMs} ms after the deletion`);
  });
});
