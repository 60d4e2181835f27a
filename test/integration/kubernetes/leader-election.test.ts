/**
 * Leader election between two `streammesh control-plane` processes against
 * a real API server (etcd and kube-apiserver on loopback: the Lease is
 * stored, versioned and conflict-checked for real). Both replicas read the
 * same config file but for their admin port, and share one gRPC address
 * (127.0.0.1:<free port>): a follower does not bind it, so it is free for
 * whichever leads, and the node dials it, standing in for the Service that
 * routes to the ready pod only.
 *
 * The replicas run with mutual TLS as the chart runs them: on the
 * kubernetes registry both sign with the CA root kept in its Secret, and the
 * node gets its first certificate with a real ServiceAccount token bound to
 * its Pod (checked with TokenReview) and trusts the bundle the leader publishes in a
 * ConfigMap (written to a file here, as kubelet would mount it). So the
 * node, certified under the first leader, is accepted by the second only
 * because both replicas use one root.
 *
 * Shown: exactly one leads (the Lease names it, its /readyz is 200, the
 * other's is 503 naming it, with streammesh_control_plane_leader 0); after
 * SIGKILL of the leader the follower leads within 15 s, the proxy node
 * reconnects to it (it shows in the new leader's GET /nodes) and its relay
 * route relays RTP throughout the handover with no gap past a small bound;
 * after SIGTERM the leader releases the Lease and the follower leads sooner
 * than any takeover without a release could; a leader that finds another
 * holder in the Lease stops serving and exits non-zero.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getText, tryGetJson } from '../../helpers/http.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { canBindUdp, freePort } from '../../helpers/ports.js';
import { repoRoot, startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { startKubeApiServer, type KubeApiServer } from '../../helpers/kube/api-server.js';
import { UdpPeer, rtp } from '../../helpers/udp.js';
import { publishedTrustBundle } from '../../helpers/kube/control-plane-config.js';

const NAMESPACE = 'default';
const PROXY_ID = 'relay-node';
const PROXY_SA = 'streammesh-proxy';
const TRUST_BUNDLE_CONFIGMAP = 'streammesh-trust-bundle';
/** The schema's defaults, which the replicas run with. */
const LEASE_DURATION_MS = 10_000;
const RETRY_PERIOD_MS = 2_000;
/** What issue 19 asks of a takeover after the leader dies. */
const TAKEOVER_BOUND_MS = 15_000;
/** RTP every 20 ms; the relay may pause no longer than this while the control plane changes. */
const PACKET_INTERVAL_MS = 20;
const GAP_BOUND_MS = 500;

interface Readyz {
  readonly status: string;
  readonly reason?: string;
}

interface NodesView {
  readonly nodes: readonly {
    readonly id: string;
    readonly state: string;
    readonly spiffeId: string | null;
  }[];
}

interface Lease {
  readonly spec: {
    readonly holderIdentity?: string;
    readonly leaseTransitions?: number;
    readonly leaseDurationSeconds?: number;
  };
}

class Replica {
  readonly adminUrl: string;
  readonly process: Running;

  constructor(
    readonly name: string,
    adminPort: number,
    configFile: string,
    token: string,
    stateDir: string,
  ) {
    this.adminUrl = `http://127.0.0.1:${adminPort}`;
    this.process = startStreammesh(['control-plane', '--config', configFile], {
      STREAMMESH_CONTROL_PLANE_ADMIN: `127.0.0.1:${adminPort}`,
      STREAMMESH_ADMIN_TOKEN: token,
      POD_NAME: name,
      // Nothing of this machine's state (CA directory, token files) is used.
      XDG_STATE_HOME: join(stateDir, name),
    });
  }

  async readyz(): Promise<{ status: number; body: Readyz } | undefined> {
    return tryGetJson<Readyz>(`${this.adminUrl}/readyz`);
  }

  exited(): boolean {
    const { child } = this.process;
    return child.exitCode !== null || child.signalCode !== null;
  }

  output(): string {
    return `${this.name}:\n${this.process.stdout().slice(-3000)}\n${this.process.stderr().slice(-2000)}`;
  }
}

/** An even port free for UDP with the next one (a route's RTP and RTCP). */
async function routePort(): Promise<number> {
  for (;;) {
    const port = await freePort((candidate) => candidate % 2 === 0);
    if (await canBindUdp(port + 1)) return port;
  }
}

describe(
  'leader election among control plane replicas (real API server)',
  { timeout: 240_000 },
  () => {
    let kube: KubeApiServer;
    const token = newAdminToken();
    const started: Running[] = [];
    const receivers = new Set<UdpPeer>();
    const relays: { stop(): Promise<unknown> }[] = [];

    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'leader-election-'));
      kube = await startKubeApiServer();
      // As the chart installs them: the control plane watches these kinds.
      const crds = join(repoRoot, 'helm', 'streammesh', 'crds');
      await kube.kubectl(['apply', '-f', crds]);
      await kube.kubectl(['create', 'serviceaccount', PROXY_SA, '-n', NAMESPACE]);
    });

    after(async () => {
      await Promise.all(relays.map(async (relay) => relay.stop()));
      for (const receiver of receivers) receiver.close();
      await Promise.all(started.map(async (running) => running.stop('SIGKILL', 5_000)));
      await kube.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Two replicas on a Lease of their own, and the config file a proxy node would use. */
    async function mesh(lease: string): Promise<{
      readonly replicas: readonly [Replica, Replica];
      readonly configFile: string;
      /** Where the node's token and trust bundle files go. */
      readonly files: string;
      readonly routeListen: number;
      readonly receiver: UdpPeer;
    }> {
      const grpc = await freePort();
      const routeListen = await routePort();
      const receiver = await UdpPeer.bind();
      receivers.add(receiver);
      const files = mkdtempSync(join(dir, `${lease}-`));
      const configFile = writeTempConfig(
        [
          'logLevel: info',
          'controlPlane:',
          '  admin: 127.0.0.1:0',
          `  grpc: 127.0.0.1:${grpc}`,
          '  heartbeatIntervalMs: 200',
          '  registry: kubernetes',
          // The node's side: its projected token and the mounted trust bundle (written below).
          `  bootstrapTokenFile: ${join(files, 'token')}`,
          `  trustBundleFile: ${join(files, 'bundle.pem')}`,
          '  kubernetes:',
          `    kubeconfig: ${kube.kubeconfig}`,
          `    namespace: ${NAMESPACE}`,
          `    leaderElection: { lease: ${lease} }`,
          'proxy:',
          '  admin: 127.0.0.1:0',
          '  rtsp: { listen: 127.0.0.1:0, demo: false }',
          `  identity: { namespace: ${NAMESPACE}, serviceAccount: ${PROXY_SA} }`,
          '  routes:',
          '    - name: handover',
          `      listen: 127.0.0.1:${routeListen}`,
          `      destinations: [{ address: 127.0.0.1:${receiver.port} }]`,
          '',
        ].join('\n'),
      );
      // One after the other: on a loaded machine two processes starting at once may
      // exceed the config parse's time limit (a start-up cost, not the election's).
      const replicas: [Replica, Replica] = [
        await startReplica('cp-a', configFile),
        await startReplica('cp-b', configFile),
      ];
      return { replicas, configFile, files, routeListen, receiver };
    }

    /**
     * A proxy node dialling the shared gRPC address, with what kubelet would
     * mount: a ServiceAccount token bound to its Pod (named as the node: the
     * control plane certifies only a pod's own name) and the bundle the
     * leader published. No kubelet runs the Pod; it stays Pending.
     */
    async function startProxy(configFile: string, files: string): Promise<string> {
      await kube.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: PROXY_ID, namespace: NAMESPACE },
          spec: {
            serviceAccountName: PROXY_SA,
            automountServiceAccountToken: false,
            containers: [{ name: 'proxy', image: 'streammesh:test' }],
          },
        }),
      );
      const uid = await kube.kubectl([
        'get',
        'pod',
        PROXY_ID,
        '-n',
        NAMESPACE,
        '-o',
        'jsonpath={.metadata.uid}',
      ]);
      writeFileSync(
        join(files, 'token'),
        await kube.createToken(NAMESPACE, PROXY_SA, 'streammesh', {
          name: PROXY_ID,
          uid: uid.trim(),
        }),
        {
          mode: 0o600,
        },
      );
      writeFileSync(
        join(files, 'bundle.pem'),
        await publishedTrustBundle((args) => kube.kubectl(args), TRUST_BUNDLE_CONFIGMAP, NAMESPACE),
      );
      const proxyPort = await freePort();
      const proxy = startStreammesh(['proxy', '--config', configFile], {
        STREAMMESH_PROXY_ADMIN: `127.0.0.1:${proxyPort}`,
        STREAMMESH_PROXY_ID: PROXY_ID,
        STREAMMESH_ADMIN_TOKEN: token,
        XDG_STATE_HOME: join(files, 'proxy-state'),
      });
      started.push(proxy);
      const proxyAdmin = `http://127.0.0.1:${proxyPort}`;
      await waitFor(
        async () => ((await tryGetJson(`${proxyAdmin}/readyz`))?.status === 200 ? true : undefined),
        30_000,
        () =>
          `the proxy node ready (its first config from the leader):\n${proxy.stdout().slice(-3000)}\n${proxy.stderr().slice(-2000)}`,
      );
      return proxyAdmin;
    }

    async function startReplica(name: string, configFile: string): Promise<Replica> {
      const replica = new Replica(name, await freePort(), configFile, token, dir);
      started.push(replica.process);
      await waitFor(
        async () => {
          if (replica.exited()) throw new Error(`${name} exited:\n${replica.output()}`);
          const healthz = await tryGetJson(`${replica.adminUrl}/healthz`);
          return healthz?.status === 200 ? true : undefined;
        },
        30_000,
        () => `${name} answering /healthz:\n${replica.output()}`,
      );
      return replica;
    }

    /** The replica that leads, once one has /readyz 200 and the other 503 naming it in the Lease. */
    async function oneLeads(
      lease: string,
      replicas: readonly [Replica, Replica],
      timeoutMs: number,
    ): Promise<{ leader: Replica; follower: Replica; holder: string }> {
      return waitFor(
        async () => {
          for (const replica of replicas) {
            if (replica.exited()) throw new Error(`${replica.name} exited:\n${replica.output()}`);
          }
          const [a, b] = await Promise.all(replicas.map(async (replica) => replica.readyz()));
          const ready = [a?.status === 200, b?.status === 200];
          if (ready[0] === ready[1] || a === undefined || b === undefined) return undefined;
          const [leader, follower] = ready[0] ? replicas : [replicas[1], replicas[0]];
          const standby = ready[0] ? b : a;
          const holder = (await readLease(lease)).spec.holderIdentity ?? '';
          if (!holder.startsWith(`${leader.name}_`)) return undefined;
          if (standby.status !== 503 || standby.body.reason !== `standby: ${holder} leads`) {
            return undefined;
          }
          return { leader, follower, holder };
        },
        timeoutMs,
        () => `exactly one replica leading:\n${replicas.map((r) => r.output()).join('\n')}`,
      );
    }

    async function readLease(name: string): Promise<Lease> {
      return JSON.parse(
        await kube.kubectl(['get', 'lease', name, '-n', NAMESPACE, '-o', 'json']),
      ) as Lease;
    }

    /** The node connected to `replica` over mutual TLS, with the ServiceAccount's identity. */
    async function nodeConnectedTo(replica: Replica): Promise<boolean> {
      const nodes = await tryGetJson<NodesView>(`${replica.adminUrl}/nodes`);
      return (
        nodes?.status === 200 &&
        nodes.body.nodes.some(
          ({ id, state, spiffeId }) =>
            id === PROXY_ID &&
            state === 'connected' &&
            spiffeId?.endsWith(`/ns/${NAMESPACE}/sa/${PROXY_SA}`) === true,
        )
      );
    }

    /** Sends RTP to the route every PACKET_INTERVAL_MS until stopped; the receiver keeps arrival times. */
    function relayRtp(
      routeListen: number,
      receiver: UdpPeer,
    ): { stop(): Promise<{ sent: number; received: number; maxGapMs: number }> } {
      const arrivals: number[] = [];
      receiver.socket.on('message', () => arrivals.push(performance.now()));
      let sequence = 0;
      const sender = UdpPeer.bind();
      const timer = setInterval(() => {
        void sender.then((peer) => peer.send(rtp({ sequence: sequence++ }), routeListen));
      }, PACKET_INTERVAL_MS);
      let stopped = false;
      return {
        async stop() {
          clearInterval(timer);
          if (!stopped) (await sender).close();
          stopped = true;
          let maxGapMs = 0;
          for (let i = 1; i < arrivals.length; i++) {
            maxGapMs = Math.max(maxGapMs, (arrivals[i] ?? 0) - (arrivals[i - 1] ?? 0));
          }
          return { sent: sequence, received: arrivals.length, maxGapMs };
        },
      };
    }

    it('SIGKILL of the leader: the follower leads within 15 s, the node reconnects to it and relays throughout', async () => {
      const lease = 'cp-sigkill';
      const { replicas, configFile, files, routeListen, receiver } = await mesh(lease);
      const first = await oneLeads(lease, replicas, 30_000);
      const metrics = await getText(`${first.follower.adminUrl}/metrics`);
      assert.match(metrics.text, /^streammesh_control_plane_leader\{[^}]*\} 0$/m);
      await startProxy(configFile, files);
      await waitFor(
        async () => ((await nodeConnectedTo(first.leader)) ? true : undefined),
        10_000,
        () => "the node in the leader's GET /nodes",
      );
      const relay = relayRtp(routeListen, receiver);
      relays.push(relay);
      await receiver.waitForCount(10, 5_000);
      const before = (await readLease(lease)).spec.leaseTransitions ?? 0;

      const killedAt = performance.now();
      first.leader.process.child.kill('SIGKILL');
      await waitFor(
        async () => ((await first.follower.readyz())?.status === 200 ? true : undefined),
        TAKEOVER_BOUND_MS + 5_000,
        () => `the follower leading:\n${first.follower.output()}`,
      );
      const takeoverMs = performance.now() - killedAt;
      const after = (await readLease(lease)).spec;
      assert.ok(after.holderIdentity?.startsWith(`${first.follower.name}_`), after.holderIdentity);
      assert.equal(after.leaseTransitions, before + 1);
      await waitFor(
        async () => ((await nodeConnectedTo(first.follower)) ? true : undefined),
        15_000,
        () => `the node in the new leader's GET /nodes:\n${first.follower.output()}`,
      );
      const reconnectMs = performance.now() - killedAt;
      // Relay on a while under the new leader (its config push to the node included).
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const relayed = await relay.stop();
      console.log(
        `SIGKILL takeover: the follower led ${(takeoverMs / 1000).toFixed(2)} s after the kill ` +
          `(lease ${LEASE_DURATION_MS / 1000} s, retry ${RETRY_PERIOD_MS / 1000} s); the node was ` +
          `in its GET /nodes ${(reconnectMs / 1000).toFixed(2)} s after; RTP relayed ` +
          `${relayed.received}/${relayed.sent}, longest gap ${relayed.maxGapMs.toFixed(0)} ms`,
      );
      assert.ok(takeoverMs < TAKEOVER_BOUND_MS, `takeover took ${takeoverMs.toFixed(0)} ms`);
      assert.ok(
        relayed.maxGapMs < GAP_BOUND_MS,
        `the relay paused ${relayed.maxGapMs.toFixed(0)} ms during the handover`,
      );
      assert.ok(
        relayed.received >= relayed.sent - 2,
        `${relayed.received}/${relayed.sent} relayed`,
      );
    });

    it('SIGTERM of the leader: it releases the Lease and the follower leads at its next read', async () => {
      const lease = 'cp-sigterm';
      const { replicas } = await mesh(lease);
      const first = await oneLeads(lease, replicas, 30_000);
      const before = (await readLease(lease)).spec.leaseTransitions ?? 0;

      const stoppedAt = performance.now();
      const stopping = first.leader.process.stop('SIGTERM', 5_000);
      await waitFor(
        async () => ((await first.follower.readyz())?.status === 200 ? true : undefined),
        TAKEOVER_BOUND_MS,
        () => `the follower leading:\n${first.follower.output()}`,
      );
      const takeoverMs = performance.now() - stoppedAt;
      const { code } = await stopping;
      assert.equal(code, 0, first.leader.output());
      assert.match(first.leader.process.stdout(), /released the lease/);
      const after = (await readLease(lease)).spec;
      assert.ok(after.holderIdentity?.startsWith(`${first.follower.name}_`), after.holderIdentity);
      assert.equal(after.leaseTransitions, before + 1);
      console.log(
        `SIGTERM takeover: the follower led ${(takeoverMs / 1000).toFixed(2)} s after the SIGTERM`,
      );
      // Without a release the follower waits out the lease from when it last saw it
      // renewed, at most a retry period before the leader stopped.
      assert.ok(
        takeoverMs < LEASE_DURATION_MS - RETRY_PERIOD_MS,
        `takeover after release took ${takeoverMs.toFixed(0)} ms`,
      );
    });

    it('a leader that finds another holder in the Lease stops serving and exits non-zero', async () => {
      const lease = 'cp-intruder';
      const { replicas } = await mesh(lease);
      const first = await oneLeads(lease, replicas, 30_000);
      await first.follower.process.stop('SIGKILL', 5_000);
      // Another writer takes the Lease (as a replica that saw it expire would).
      const now = new Date().toISOString().replace('Z', '000Z');
      await kube.kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: lease, namespace: NAMESPACE },
          spec: { holderIdentity: 'intruder', renewTime: now, leaseDurationSeconds: 10 },
        }),
      );
      const exited = await waitFor(
        () => (first.leader.exited() ? { code: first.leader.process.child.exitCode } : undefined),
        RETRY_PERIOD_MS + 5_000,
        () => `the leader exiting:\n${first.leader.output()}`,
      );
      assert.notEqual(exited.code, 0);
      assert.match(first.leader.process.stdout(), /intruder holds the lease/);
      assert.equal((await readLease(lease)).spec.holderIdentity, 'intruder');
    });
  },
);
