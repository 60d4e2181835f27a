/**
 * The Helm chart (helm/streammesh) checked with the real tools: helm lint and
 * helm template for the default values and every example values file, the
 * rendered pods (probes, non-root read-only containers, resources, the
 * command and its config), the rendered config read with streammesh's own
 * schema exactly as each pod's environment makes each role read it, the
 * control plane's RBAC (exactly the verbs its code calls), the admin tokens
 * (the control plane's kept out of the node pods), the per-release names of
 * the Lease, CA Secret and trust bundle, every rendered object applied to a
 * real API server with a server-side dry run (after the CRDs are
 * established), a real install and upgrade (and a second release beside
 * it), and values refused with a message naming the field.
 *
 * No kubelet, scheduler or CNI runs here: nothing is scheduled or started.
 * What a pod would get from the kubelet (its name, pod IP, host IP, the
 * admin token Secret's value) is filled in from a stand-in pod.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfigText, type MeshConfig } from '../../../src/config/index.js';
import { apiServerForSuite } from '../../helpers/kube/api-server.js';
import { repoRoot } from '../../helpers/process.js';
import {
  chartDir,
  containerEnvironment,
  crdDir,
  exampleValuesFiles,
  objectNamed,
  parseManifest,
  workloads,
  type Container,
  type KubeObject,
  type PodSpec,
  type StandInPod,
} from '../../helpers/kube/chart-render.js';

const RELEASE = 'streammesh';
const NAMESPACE = 'streammesh';
const CONFIG_FILE = '/etc/streammesh/config.yaml';

interface Variant {
  readonly name: string;
  /** helm arguments choosing the values. */
  readonly args: readonly string[];
  /** The values file's own settings, for the figures the render must carry. */
  readonly values: Record<string, unknown>;
}

const variants: readonly Variant[] = [
  { name: 'default values', args: [], values: {} },
  ...exampleValuesFiles().map((file) => ({
    name: `examples/${basename(file)}`,
    args: ['-f', file],
    values: (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>,
  })),
];

/** A value of the values file, else the chart's default (values.yaml). */
function valueOf(variant: Variant, path: readonly string[]): unknown {
  const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as unknown;
  const dig = (root: unknown): unknown =>
    path.reduce<unknown>(
      (node, key) =>
        node !== null && typeof node === 'object'
          ? (node as Record<string, unknown>)[key]
          : undefined,
      root,
    );
  return dig(variant.values) ?? dig(defaults);
}

describe('Helm chart helm/streammesh (helm, kubectl and a real API server)', () => {
  const server = apiServerForSuite();
  const template = (args: readonly string[]): Promise<string> =>
    server().helm(['template', RELEASE, chartDir, '-n', NAMESPACE, ...args]);
  const render = async (args: readonly string[]): Promise<readonly KubeObject[]> =>
    parseManifest(await template(args));

  it('passes helm lint --strict with the default values and with every example values file', async () => {
    assert.ok(variants.length >= 4, 'the three scenario examples are there');
    for (const variant of variants) {
      const out = await server().helm(['lint', '--strict', chartDir, ...variant.args]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/, variant.name);
    }
  });

  it('renders the control plane, the proxies and the signaling nodes with their Services', async () => {
    for (const variant of variants) {
      const objects = await render(variant.args);
      const controlPlane = objectNamed(objects, 'Deployment', `${RELEASE}-control-plane`);
      assert.equal(controlPlane.spec?.['replicas'], valueOf(variant, ['controlPlane', 'replicas']));
      assert.equal(controlPlane.spec?.['replicas'], 2, `${variant.name}: 2 control planes`);
      // Only the leader is ready: a rollout must not wait for a new pod to be ready first.
      assert.deepEqual(controlPlane.spec['strategy'], {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: 1, maxUnavailable: '100%' },
      });
      objectNamed(objects, 'DaemonSet', `${RELEASE}-proxy`);
      const signaling = objectNamed(objects, 'StatefulSet', `${RELEASE}-signaling`);
      assert.equal(signaling.spec?.['replicas'], valueOf(variant, ['signaling', 'replicas']));
      assert.equal(signaling.spec?.['serviceName'], `${RELEASE}-signaling-headless`);

      const ports = (name: string): Record<string, unknown> => {
        const service = objectNamed(objects, 'Service', name);
        const list = service.spec?.['ports'] as { name: string; port: number }[];
        return Object.fromEntries(list.map((port) => [port.name, port.port]));
      };
      assert.deepEqual(ports(`${RELEASE}-control-plane`), { grpc: 15101, admin: 15100 });
      assert.deepEqual(ports(`${RELEASE}-rtsp`), { rtsp: valueOf(variant, ['proxy', 'rtspPort']) });
      assert.deepEqual(ports(`${RELEASE}-signaling`), {
        http: valueOf(variant, ['signaling', 'listenPort']),
      });
      const headless = objectNamed(objects, 'Service', `${RELEASE}-signaling-headless`);
      assert.equal(headless.spec?.['clusterIP'], 'None');
      assert.equal(headless.spec['publishNotReadyAddresses'], true);
      assert.equal(
        ports(`${RELEASE}-signaling-headless`)['cascade'],
        valueOf(variant, ['signaling', 'cascadePort']),
      );
      const budgets = objects.filter((object) => object.kind === 'PodDisruptionBudget');
      assert.deepEqual(
        budgets.map((budget) => [
          budget.metadata.name,
          budget.spec?.['minAvailable'],
          budget.spec?.['maxUnavailable'],
        ]),
        [
          [`${RELEASE}-control-plane`, 1, undefined],
          [`${RELEASE}-signaling`, undefined, 1],
        ],
      );
      assert.equal(objects.filter((object) => object.kind === 'NetworkPolicy').length, 3);
      assert.ok(!objects.some((object) => object.kind === 'ServiceMonitor'), 'off by default');
    }
  });

  it('gives every container probes on its admin port, a non-root read-only context, resource requests and the one config', async () => {
    for (const variant of variants) {
      const objects = await render(variant.args);
      const all = workloads(objects);
      assert.equal(all.length, 3, variant.name);
      for (const { object, pod } of all) {
        for (const container of pod.containers) {
          const where = `${variant.name}: ${object.metadata.name}/${container.name}`;
          const admin = container.ports?.find((port) => port.name === 'admin');
          assert.ok(admin !== undefined, `${where}: an admin port`);
          assert.deepEqual(container.livenessProbe?.httpGet, { path: '/healthz', port: 'admin' });
          assert.deepEqual(container.readinessProbe?.httpGet, { path: '/readyz', port: 'admin' });
          const context = container.securityContext;
          assert.equal(context?.runAsNonRoot, true, where);
          assert.equal(context.runAsUser, 10001, where);
          assert.equal(context.readOnlyRootFilesystem, true, where);
          assert.equal(context.allowPrivilegeEscalation, false, where);
          assert.deepEqual(context.capabilities?.drop, ['ALL'], where);
          assert.ok(container.resources?.requests?.['cpu'] !== undefined, `${where}: cpu request`);
          assert.ok(container.resources.requests['memory'] !== undefined, `${where}: memory`);
          assert.deepEqual(container.args?.slice(1), ['--config', CONFIG_FILE], where);
          assert.deepEqual(
            container.volumeMounts?.find((mount) => mount.mountPath === CONFIG_FILE),
            { name: 'config', mountPath: CONFIG_FILE, subPath: 'config.yaml', readOnly: true },
            where,
          );
          // The process writes only to its state directory and /tmp: emptyDirs.
          const values = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
          for (const path of [values['XDG_STATE_HOME'], '/tmp']) {
            const mount = container.volumeMounts.find((m) => m.mountPath === path);
            assert.ok(mount !== undefined, `${where}: ${String(path)} mounted`);
            assert.ok(volume(pod, mount.name)['emptyDir'] !== undefined, `${where}: ${path}`);
          }
        }
      }
      const config = objectNamed(objects, 'ConfigMap', `${RELEASE}-config`);
      for (const { pod } of all) {
        assert.deepEqual(volume(pod, 'config')['configMap'], { name: config.metadata.name });
      }
    }
  });

  it("renders one config that streammesh's own schema takes, as each pod's environment makes each role read it", async () => {
    for (const variant of variants) {
      const objects = await render(variant.args);
      const text = objectNamed(objects, 'ConfigMap', `${RELEASE}-config`).data?.['config.yaml'];
      assert.ok(text !== undefined, variant.name);
      const tokenOf = (name: string): string => {
        const secret = objectNamed(objects, 'Secret', name);
        const token = Buffer.from(secret.data?.['token'] ?? '', 'base64').toString('utf8');
        assert.match(token, /^[A-Za-z0-9]{32}$/, `${name}: a generated 32-character token`);
        return token;
      };
      const controlPlaneToken = tokenOf(`${RELEASE}-admin-token`);
      const nodeToken = tokenOf(`${RELEASE}-node-admin-token`);
      assert.notEqual(nodeToken, controlPlaneToken, 'two tokens, generated apart');
      const secrets = {
        [`${RELEASE}-admin-token/token`]: controlPlaneToken,
        [`${RELEASE}-node-admin-token/token`]: nodeToken,
      };
      for (const { object, pod } of workloads(objects)) {
        const container = pod.containers[0] ?? assert.fail('a container');
        const role = container.args?.[0] ?? '';
        const standIn = standInPod(object.metadata.name, pod);
        const env = containerEnvironment(container, standIn, secrets);
        // Each admin listener binds beyond loopback with its own token (src/cli/admin-access.ts).
        assert.equal(
          env['STREAMMESH_ADMIN_TOKEN'],
          role === 'control-plane' ? controlPlaneToken : nodeToken,
          `${variant.name}: ${role}'s admin token`,
        );
        // What the process does with its file and environment (src/config/load.ts).
        const config = parseConfigText(text, `${variant.name} ${role}`, env);
        const where = `${variant.name}: ${role}`;
        assert.equal(config.controlPlane.registry, 'kubernetes', where);
        assert.equal(
          config.controlPlane.address,
          `${RELEASE}-control-plane.${NAMESPACE}.svc:15101`,
          where,
        );
        assert.equal(config.controlPlane.kubernetes.namespace, NAMESPACE, where);
        assert.ok(
          (pod.terminationGracePeriodSeconds ?? 30) > drainTimeoutOf(role, config),
          `${where}: the grace period outlasts the drain`,
        );
        if (role === 'control-plane') {
          assert.equal(config.controlPlane.admin, '0.0.0.0:15100');
          assert.equal(config.controlPlane.grpc, '0.0.0.0:15101');
        } else if (role === 'proxy') {
          checkProxy(config, pod, container, standIn, where);
        } else {
          assert.equal(role, 'signaling');
          checkSignaling(config, pod, container, standIn, where);
        }
      }
    }
  });

  it("keeps the control plane's admin token out of the proxy and signaling pods", async () => {
    // Proxies run on the host network by default: a compromised node must not
    // hold the token of the control plane's PUT /config, drain and revocation.
    for (const args of [[], ['--set', 'controlPlane.adminTokenSecret=operator-admin-token']]) {
      const objects = await render(args);
      const controlPlane = workloads(objects).find((w) => w.object.kind === 'Deployment');
      const controlPlaneSecrets = secretsReferenced(
        controlPlane?.pod ?? assert.fail('no Deployment'),
      );
      const expected = args.length === 0 ? `${RELEASE}-admin-token` : 'operator-admin-token';
      assert.deepEqual(controlPlaneSecrets, [expected], `${args.join(' ')}: the control plane's`);
      const nodes = workloads(objects).filter((w) => w.object.kind !== 'Deployment');
      assert.equal(nodes.length, 2, 'the proxy DaemonSet and the signaling StatefulSet');
      for (const { object, pod } of nodes) {
        const where = `${args.join(' ')}: ${object.kind} ${object.metadata.name}`;
        assert.deepEqual(secretsReferenced(pod), [`${RELEASE}-node-admin-token`], where);
        // Any mention at all, whatever field a later change might add it in.
        assert.ok(!JSON.stringify(pod).includes(JSON.stringify(expected)), where);
      }
      // The nodes' Secret exists whether or not the operator names the control plane's.
      objectNamed(objects, 'Secret', `${RELEASE}-node-admin-token`);
    }
  });

  it('names the Lease, the CA Secret and the trust bundle ConfigMap after the release, and grants and mounts those', async () => {
    const namesOf = async (
      release: string,
    ): Promise<{ lease: string; caSecret: string; trustBundle: string }> => {
      const objects = parseManifest(
        await server().helm(['template', release, chartDir, '-n', NAMESPACE]),
      );
      const text = objectNamed(objects, 'ConfigMap', `${release}-config`).data?.['config.yaml'];
      const { kubernetes } = parseConfigText(text ?? '', `${release} configmap`).controlPlane;
      const names = {
        lease: kubernetes.leaderElection.lease,
        caSecret: kubernetes.caSecret,
        trustBundle: kubernetes.trustBundleConfigMap,
      };
      const role = objectNamed(objects, 'Role', `${release}-control-plane`);
      const named = (role.rules ?? []).flatMap((rule) => rule.resourceNames ?? []);
      assert.deepEqual(named, [names.lease, names.caSecret, names.trustBundle], `${release}: RBAC`);
      for (const { object, pod } of workloads(objects)) {
        if (object.kind === 'Deployment') continue;
        assert.deepEqual(
          volume(pod, 'trust')['configMap'],
          { name: names.trustBundle, optional: true },
          `${release}: ${object.metadata.name} mounts its release's trust bundle`,
        );
      }
      return names;
    };
    // The release named streammesh keeps the control plane's defaults (no rename on upgrade).
    assert.deepEqual(await namesOf(RELEASE), {
      lease: 'streammesh-control-plane',
      caSecret: 'streammesh-ca',
      trustBundle: 'streammesh-trust-bundle',
    });
    const other = await namesOf('cameras-east');
    assert.deepEqual(other, {
      lease: 'cameras-east-control-plane',
      caSecret: 'cameras-east-ca',
      trustBundle: 'cameras-east-trust-bundle',
    });
  });

  it('grants the control plane exactly the verbs its code calls, in its namespace, by name where RBAC allows', async () => {
    const objects = await render([]);
    const text = objectNamed(objects, 'ConfigMap', `${RELEASE}-config`).data?.['config.yaml'];
    const config = parseConfigText(text ?? '', 'configmap');
    const role = objectNamed(objects, 'Role', `${RELEASE}-control-plane`);
    const grants = (group: string, resource: string, verb: string): (readonly string[])[] =>
      (role.rules ?? [])
        .filter(
          (rule) =>
            rule.apiGroups.includes(group) &&
            rule.resources.includes(resource) &&
            rule.verbs.includes(verb),
        )
        .map((rule) => rule.resourceNames ?? ['*']);
    const { kubernetes } = config.controlPlane;
    assert.deepEqual(grants('coordination.k8s.io', 'leases', 'update'), [
      [kubernetes.leaderElection.lease],
    ]);
    assert.deepEqual(grants('', 'secrets', 'get'), [[kubernetes.caSecret]]);
    assert.deepEqual(grants('', 'secrets', 'create'), [['*']]);
    assert.deepEqual(grants('', 'configmaps', 'update'), [[kubernetes.trustBundleConfigMap]]);
    assert.deepEqual(grants('', 'pods', 'watch'), [['*']]);
    assert.deepEqual(grants('discovery.k8s.io', 'endpointslices', 'watch'), [['*']]);
    assert.deepEqual(grants('streammesh.io', 'cameras/status', 'patch'), [['*']]);
    assert.deepEqual(grants('streammesh.io', 'mediaroutes', 'watch'), [['*']]);
    // What no code calls (ca-secret.ts reads and creates; status-writer.ts
    // merge-patches; the sources list and watch; nothing records Events).
    assert.deepEqual(grants('', 'secrets', 'update'), [], 'the CA Secret is never rewritten');
    assert.deepEqual(grants('', 'secrets', 'list'), [], 'no Secret is listed');
    assert.deepEqual(grants('', 'events', 'create'), [], 'no Event is recorded');
    assert.deepEqual(grants('streammesh.io', 'cameras/status', 'update'), [], 'patch only');
    assert.deepEqual(grants('streammesh.io', 'mediaroutes/status', 'get'), []);
    assert.deepEqual(grants('', 'pods', 'get'), [], 'pods are listed and watched');
    assert.deepEqual(grants('streammesh.io', 'cameras', 'get'), []);
    for (const rule of role.rules ?? []) {
      assert.ok(!rule.verbs.includes('*') && !rule.resources.includes('*'), 'no wildcard');
      assert.ok(!rule.verbs.includes('delete'), 'deletes nothing');
    }
    const controlPlane = workloads(objects).find((w) => w.object.kind === 'Deployment');
    const account = controlPlane?.pod.serviceAccountName;
    const delegator = objects.find(
      (object) =>
        object.kind === 'ClusterRoleBinding' && object.roleRef?.name === 'system:auth-delegator',
    );
    assert.deepEqual(delegator?.subjects?.[0]?.name, account, 'TokenReview for its account');
    assert.ok(
      !objects.some((object) => object.kind === 'ClusterRole'),
      'no ClusterRole by default',
    );

    const wide = await render(['--set', 'discovery.allNamespaces=true']);
    const clusterRoles = wide.filter((object) => object.kind === 'ClusterRole');
    assert.deepEqual(
      clusterRoles.map((clusterRole) => clusterRole.rules),
      [
        [
          {
            apiGroups: ['discovery.k8s.io'],
            resources: ['endpointslices'],
            verbs: ['list', 'watch'],
          },
        ],
      ],
    );
  });

  it('is accepted object by object by the API server (server-side dry run), after its CRDs are established', async () => {
    await server().kubectl(['create', 'namespace', NAMESPACE]);
    // The CRDs are applied for real: the dry run of objects of their kinds needs them.
    await server().kubectl(['apply', '--server-side', '-f', crdDir]);
    const crds = readdirSync(crdDir)
      .filter((name) => name.endsWith('.yaml'))
      .map((name) => (parse(readFileSync(join(crdDir, name), 'utf8')) as KubeObject).metadata.name);
    assert.deepEqual(crds.sort(), ['cameras.streammesh.io', 'mediaroutes.streammesh.io']);
    await server().kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...crds.map((name) => `crd/${name}`),
    ]);
    const everything = {
      name: 'host-network signaling, EndpointSlices of all namespaces, Grafana dashboard',
      args: [
        '--set',
        'signaling.hostNetwork=true,discovery.allNamespaces=true,metrics.grafanaDashboard.enabled=true',
      ],
    };
    for (const variant of [...variants, everything]) {
      const manifest = await template(variant.args);
      const objects = parseManifest(manifest);
      const out = await server().kubectl(
        ['apply', '--server-side', '--dry-run=server', '-n', NAMESPACE, '-f', '-'],
        manifest,
      );
      const applied = out.split('\n').filter((line) => line.endsWith('(server dry run)'));
      assert.equal(applied.length, objects.length, `${variant.name}:\n${out}`);
    }
    // Off by default because a cluster without the Prometheus Operator refuses it.
    await assert.rejects(
      template(['--set', 'metrics.serviceMonitor.enabled=true']).then((manifest) =>
        server().kubectl(
          ['apply', '--server-side', '--dry-run=server', '-n', NAMESPACE, '-f', '-'],
          manifest,
        ),
      ),
      /no matches for kind "ServiceMonitor"/,
    );
  });

  it('installs and upgrades for real, keeping the admin tokens it generated', async () => {
    await server().helm(['install', RELEASE, chartDir, '-n', NAMESPACE, '--create-namespace']);
    const read = (secret = `${RELEASE}-admin-token`): Promise<string> =>
      server().kubectl(['-n', NAMESPACE, 'get', 'secret', secret, '-o', 'jsonpath={.data.token}']);
    const token = await read();
    const nodeToken = await read(`${RELEASE}-node-admin-token`);
    assert.ok(token.length > 0 && nodeToken.length > 0);
    assert.notEqual(nodeToken, token);
    await server().helm([
      'upgrade',
      RELEASE,
      chartDir,
      '-n',
      NAMESPACE,
      '--set',
      'signaling.replicas=3',
    ]);
    assert.equal(await read(), token, 'the upgrade kept the token (lookup)');
    assert.equal(await read(`${RELEASE}-node-admin-token`), nodeToken, "and the nodes' token");
    const replicas = await server().kubectl([
      '-n',
      NAMESPACE,
      'get',
      'statefulset',
      `${RELEASE}-signaling`,
      '-o',
      'jsonpath={.spec.replicas}',
    ]);
    assert.equal(replicas, '3', 'the upgrade itself took effect');

    // A second release in the same namespace installs beside it, with its own names.
    const second = 'cameras-east';
    await server().helm(['install', second, chartDir, '-n', NAMESPACE]);
    assert.notEqual(await read(`${second}-admin-token`), token);

    // The installed RBAC as the API server's authorizer decides it for each
    // release's control plane ServiceAccount: what its code calls, on its
    // release's Lease, CA Secret and trust bundle, and nothing else.
    const canI = async (release: string, args: readonly string[]): Promise<string> => {
      const account = `system:serviceaccount:${NAMESPACE}:${release}-control-plane`;
      const answer = await server()
        .kubectl(['auth', 'can-i', '--as', account, '-n', NAMESPACE, ...args])
        .catch((error: unknown) => (error as { stdout?: string }).stdout ?? '');
      return answer.trim();
    };
    for (const [release, other] of [
      [RELEASE, second],
      [second, RELEASE],
    ] as const) {
      const allowed: readonly string[][] = [
        ['get', `leases.coordination.k8s.io/${release}-control-plane`],
        ['update', `leases.coordination.k8s.io/${release}-control-plane`],
        ['create', 'leases.coordination.k8s.io'],
        ['get', `secrets/${release}-ca`],
        ['create', 'secrets'],
        ['get', `configmaps/${release}-trust-bundle`],
        ['update', `configmaps/${release}-trust-bundle`],
        ['create', 'configmaps'],
        ['list', 'pods'],
        ['watch', 'pods'],
        ['list', 'endpointslices.discovery.k8s.io'],
        ['watch', 'endpointslices.discovery.k8s.io'],
        ['list', 'cameras.streammesh.io'],
        ['watch', 'mediaroutes.streammesh.io'],
        ['patch', 'cameras.streammesh.io', '--subresource=status'],
        ['patch', 'mediaroutes.streammesh.io', '--subresource=status'],
        ['create', 'tokenreviews.authentication.k8s.io'],
      ];
      const refused: readonly string[][] = [
        // The other release's state.
        ['update', `leases.coordination.k8s.io/${other}-control-plane`],
        ['get', `secrets/${other}-ca`],
        ['update', `configmaps/${other}-trust-bundle`],
        // Verbs no code calls.
        ['update', `secrets/${release}-ca`],
        ['patch', `secrets/${release}-ca`],
        ['create', 'events'],
        ['create', 'events.events.k8s.io'],
        ['update', 'cameras.streammesh.io', '--subresource=status'],
        ['get', 'mediaroutes.streammesh.io', '--subresource=status'],
        ['get', 'pods'],
        ['get', 'cameras.streammesh.io'],
        // And what was never meant.
        ['get', `secrets/${release}-admin-token`],
        ['list', 'secrets'],
        ['delete', 'pods'],
        ['update', 'cameras.streammesh.io'],
        ['list', 'endpointslices.discovery.k8s.io', '-n', 'default'],
      ];
      for (const args of allowed) {
        assert.equal(await canI(release, args), 'yes', `${release}: ${args.join(' ')}`);
      }
      for (const args of refused) {
        assert.equal(await canI(release, args), 'no', `${release}: ${args.join(' ')}`);
      }
    }
  });

  it('ships a Grafana dashboard whose queries use only metrics the code exports', async () => {
    const objects = await render(['--set', 'metrics.grafanaDashboard.enabled=true']);
    const dashboard = objectNamed(objects, 'ConfigMap', `${RELEASE}-dashboard`);
    assert.equal(dashboard.metadata.labels?.['grafana_dashboard'], '1');
    const json = dashboard.data?.['streammesh.json'] ?? assert.fail('no dashboard JSON');
    assert.deepEqual(
      JSON.parse(json),
      JSON.parse(readFileSync(join(chartDir, 'dashboards', 'streammesh.json'), 'utf8')),
    );
    const queried = new Set(
      [...json.matchAll(/streammesh_[a-z0-9_]+/g)].map(([name]) =>
        // A histogram is queried by its series: the metric is the name without _bucket.
        name.replace(/_bucket$/, ''),
      ),
    );
    assert.ok(queried.size >= 10, 'streams, hops, SFU load and HTTP metrics are queried');
    const exported = sourceText(['src', 'rtp-proxy', 'signaling']);
    for (const name of queried) {
      assert.ok(exported.includes(`'${name}'`), `${name} is a metric name in the code`);
    }
  });

  it('refuses bad values with a non-zero exit and a message naming the field', () => {
    const cases: readonly [set: string, message: RegExp][] = [
      // values.schema.json
      ['proxy.rtpPorts.start=abc', /\/proxy\/rtpPorts\/start'?: got string, want integer/],
      ['unknownKey=1', /additional properties 'unknownKey' not allowed/],
      ['controlPlane.replicas=-1', /\/controlPlane\/replicas'?: minimum: got -1, want 0/],
      ['signaling.service.type=Internal', /\/signaling\/service\/type/],
      // The templates' checks of what a schema cannot say.
      [
        'signaling.rtcPorts.start=60000',
        /signaling\.rtcPorts: start \(60000\) must be <= end \(59999\)/,
      ],
      ['proxy.rtpPorts.start=30001', /proxy\.rtpPorts\.start \(30001\) must be even/],
      [
        'proxy.rtpPorts.start=50000,proxy.rtpPorts.end=50999',
        /signaling\.rtcPorts 50000-59999 overlaps proxy\.rtpPorts 50000-50999/,
      ],
      [
        'proxy.terminationGracePeriodSeconds=20',
        /proxy\.terminationGracePeriodSeconds \(20\) must be above config\.proxy\.drainTimeoutSec \(25\)/,
      ],
      ['config.controlPlane.registry=file', /config\.controlPlane\.registry is set by the chart/],
      [
        'config.proxy.rtpPorts.start=2',
        /config\.proxy\.rtpPorts is set by the chart \(set proxy\.rtpPorts\)/,
      ],
      // Its environment variable would override it without a word.
      [
        'config.proxy.workers=8',
        /config\.proxy\.workers is set by the chart \(set proxy\.workers\)/,
      ],
      ['proxy.workers=0', /\/proxy\/workers'?: minimum: got 0, want 1/],
      [
        'config.controlPlane.mtls=false',
        /config\.controlPlane\.mtls: false cannot run on Kubernetes/,
      ],
      // Two replicas without an election would both serve the nodes.
      [
        'config.controlPlane.kubernetes.leaderElection.enabled=false',
        /config\.controlPlane\.kubernetes\.leaderElection\.enabled: false with controlPlane\.replicas 2/,
      ],
    ];
    // One replica without an election is one control plane: rendered.
    const single = spawnSync(
      server().tools.helm,
      [
        ...['template', RELEASE, chartDir, '-n', NAMESPACE, '--set'],
        'controlPlane.replicas=1,config.controlPlane.kubernetes.leaderElection.enabled=false',
      ],
      { encoding: 'utf8', env: { ...process.env, KUBECONFIG: server().kubeconfig } },
    );
    assert.equal(single.status, 0, single.stderr);
    for (const [set, message] of cases) {
      // helm itself, for its exit status (the harness's helm() keeps only stderr).
      const refusal = spawnSync(
        server().tools.helm,
        ['template', RELEASE, chartDir, '-n', NAMESPACE, '--set', set],
        { encoding: 'utf8', env: { ...process.env, KUBECONFIG: server().kubeconfig } },
      );
      assert.equal(typeof refusal.status, 'number', `--set ${set}: helm exited`);
      assert.notEqual(refusal.status, 0, `--set ${set} was rendered`);
      assert.match(refusal.stderr, message, `--set ${set}`);
    }
  });
});

/** Every TypeScript source under these directories of the repository, concatenated. */
function sourceText(dirs: readonly string[]): string {
  const texts: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) texts.push(readFileSync(path, 'utf8'));
    }
  };
  for (const dir of dirs) walk(join(repoRoot, dir));
  return texts.join('\n');
}

/** The Secrets a pod spec names: in env (secretKeyRef, envFrom) and volumes (secret, projected), sorted. */
function secretsReferenced(pod: PodSpec): readonly string[] {
  const names = new Set<string>();
  const visit = (node: unknown, key: string): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, key);
    } else if (node !== null && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (['secretKeyRef', 'secretRef', 'secret'].includes(key)) {
        const name = record['name'] ?? record['secretName'];
        if (typeof name === 'string') names.add(name);
      }
      for (const [child, value] of Object.entries(record)) visit(value, child);
    }
  };
  visit(pod, '');
  return [...names].sort();
}

function volume(pod: PodSpec, name: string): Record<string, unknown> {
  return pod.volumes?.find((entry) => entry['name'] === name) ?? assert.fail(`no volume ${name}`);
}

/** A pod of this workload as the kubelet would describe it (the host IP differs from the pod IP unless on the host network). */
function standInPod(workload: string, pod: PodSpec): StandInPod {
  return {
    name: `${workload}-0`,
    namespace: NAMESPACE,
    podIP: pod.hostNetwork === true ? '192.0.2.10' : '10.244.1.7',
    hostIP: '192.0.2.10',
  };
}

function drainTimeoutOf(role: string, config: MeshConfig): number {
  if (role === 'proxy') return config.proxy.drainTimeoutSec;
  if (role === 'signaling') return config.signaling.drainTimeoutSec;
  return 0;
}

/** The file at `path` is on a volume mounted into the container: the volume. */
function volumeHolding(pod: PodSpec, container: Container, path: string): Record<string, unknown> {
  const mount = container.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
  assert.ok(mount !== undefined, `${path} is on a mounted volume`);
  return volume(pod, mount.name);
}

/** The token and trust bundle files the config names are the projected token and the optional ConfigMap. */
function checkNodeFiles(
  config: MeshConfig,
  pod: PodSpec,
  container: Container,
  where: string,
): void {
  const token = volumeHolding(pod, container, config.controlPlane.bootstrapTokenFile ?? '');
  const projected = token['projected'] as {
    sources: { serviceAccountToken?: { audience: string; path: string } }[];
  };
  assert.deepEqual(
    projected.sources[0]?.serviceAccountToken?.audience,
    config.controlPlane.kubernetes.tokenAudience,
    `${where}: the token is for the mesh's audience`,
  );
  assert.ok(
    config.controlPlane.bootstrapTokenFile?.endsWith(
      `/${projected.sources[0].serviceAccountToken.path}`,
    ),
  );
  const bundle = volumeHolding(pod, container, config.controlPlane.trustBundleFile ?? '');
  assert.deepEqual(
    bundle['configMap'],
    { name: config.controlPlane.kubernetes.trustBundleConfigMap, optional: true },
    `${where}: the ConfigMap the control plane publishes the trust bundle in`,
  );
}

function checkProxy(
  config: MeshConfig,
  pod: PodSpec,
  container: Container,
  standIn: StandInPod,
  where: string,
): void {
  assert.equal(config.proxy.id, standIn.name, `${where}: the node id is the pod name`);
  assert.deepEqual(
    config.proxy.identity,
    { namespace: NAMESPACE, serviceAccount: pod.serviceAccountName },
    `${where}: the identity is the pod's ServiceAccount`,
  );
  assert.equal(config.proxy.admin, `0.0.0.0:${String(portNamed(container, 'admin'))}`);
  // Not one per core of the node: the chart's proxy.workers (2), however large the node.
  assert.equal(config.proxy.workers, 2, `${where}: proxy.workers`);
  assert.equal(config.proxy.rtsp.listen, `0.0.0.0:${String(portNamed(container, 'rtsp'))}`);
  for (const listener of config.proxy.http.listeners) {
    assert.match(listener.listen, /^0\.0\.0\.0:\d+$/, where);
  }
  if (pod.hostNetwork === true) assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', where);
  checkNodeFiles(config, pod, container, where);
}

function checkSignaling(
  config: MeshConfig,
  pod: PodSpec,
  container: Container,
  standIn: StandInPod,
  where: string,
): void {
  const { signaling } = config;
  assert.equal(signaling.id, standIn.name, `${where}: the node id is the pod name`);
  assert.deepEqual(signaling.identity, {
    namespace: NAMESPACE,
    serviceAccount: pod.serviceAccountName,
  });
  // Each node binds (and so registers) its own pod IP: others dial its cascade link there.
  assert.equal(signaling.bindHost, standIn.podIP, where);
  assert.equal(signaling.listen, `${standIn.podIP}:${String(portNamed(container, 'http'))}`);
  assert.equal(
    signaling.cascade.listen,
    `${standIn.podIP}:${String(portNamed(container, 'cascade'))}`,
  );
  const announced = env(container, 'STREAMMESH_SIGNALING_ANNOUNCED_ADDRESS');
  const expected = announced.value ?? (pod.hostNetwork === true ? standIn.hostIP : standIn.podIP);
  assert.equal(signaling.announcedAddress, expected, `${where}: the announced address`);
  if (pod.hostNetwork === true) {
    assert.equal(announced.valueFrom?.fieldRef?.fieldPath, 'status.hostIP', where);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', where);
  }
  checkNodeFiles(config, pod, container, where);
}

function portNamed(container: Container, name: string): number {
  return (
    container.ports?.find((port) => port.name === name)?.containerPort ??
    assert.fail(`${container.name}: no port ${name}`)
  );
}

function env(container: Container, name: string): NonNullable<Container['env']>[number] {
  return container.env?.find((variable) => variable.name === name) ?? assert.fail(`no env ${name}`);
}
