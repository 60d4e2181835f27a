/**
 * A real Kubernetes API server for tests, the way controller-runtime's
 * envtest runs one: etcd and kube-apiserver (built from their Go modules,
 * tools.ts) on loopback, with nothing else of a cluster — no kubelet,
 * scheduler or controller-manager. Objects are stored, validated, defaulted
 * and watched for real; Pods stay Pending, and what controllers would write
 * (EndpointSlices, ServiceAccount tokens in Secrets) a test writes itself.
 *
 * Authentication: a static admin token (system:masters) for the test's own
 * kubectl and clients, and a ServiceAccount signing key, so that TokenRequest
 * (`kubectl create token`) issues real tokens and TokenReview checks them.
 * Authorization is RBAC, as in a cluster: what the chart's Roles do not
 * grant is refused.
 *
 * Certificates are made with openssl per server (a CA and a serving leaf for
 * 127.0.0.1), so clients verify the API server rather than skip TLS checks.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { freePort } from '../ports.js';
import { spawnPeer, type PeerProcess } from '../peers/process.js';
import { kubeTools, type KubeTools } from './tools.js';

export interface KubeApiServer {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** An admin kubeconfig (token, system:masters) for kubectl, helm and clients. */
  readonly kubeconfig: string;
  /** The CA that signed the API server's certificate (PEM file). */
  readonly caFile: string;
  readonly adminToken: string;
  readonly tools: KubeTools;
  /** A scratch directory removed by close(). */
  readonly dir: string;
  /** Runs kubectl against this server; resolves with stdout, rejects with stderr. */
  kubectl(args: readonly string[], stdin?: string): Promise<string>;
  /** Runs helm against this server; resolves with stdout, rejects with stderr. */
  helm(args: readonly string[], stdin?: string): Promise<string>;
  /**
   * A real ServiceAccount token (TokenRequest), for the audience given;
   * bound to `boundPod` when given (a Pod of that namespace: its name and
   * uid), as kubelet's projected tokens are, unbound otherwise.
   */
  createToken(
    namespace: string,
    serviceAccount: string,
    audience?: string,
    boundPod?: { readonly name: string; readonly uid: string },
  ): Promise<string>;
  close(): Promise<void>;
}

export interface KubeApiServerOptions {
  /** Hard bound on the servers' lifetime; default 20 minutes. */
  readonly timeoutMs?: number;
  /**
   * The address the API server listens on and is reached at; default
   * 127.0.0.1. Pods run in network namespaces reach it on their bridge's
   * root address (netns.ts), as pods reach the `kubernetes` Service.
   */
  readonly address?: string;
}

const ADMIN_TOKEN = 'streammesh-test-admin-token';

/**
 * An API server for the enclosing suite: started before its tests, stopped
 * after them. The accessor fails the calling test when it did not start.
 */
export function apiServerForSuite(options: KubeApiServerOptions = {}): () => KubeApiServer {
  let kube: KubeApiServer | undefined;
  before(async () => {
    kube = await startKubeApiServer(options);
  });
  after(async () => {
    await kube?.close();
  });
  return () => kube ?? assert.fail('the API server did not start');
}

export async function startKubeApiServer(
  options: KubeApiServerOptions = {},
): Promise<KubeApiServer> {
  const tools = kubeTools();
  const dir = mkdtempSync(join(tmpdir(), 'streammesh-kube-'));
  const timeoutMs = options.timeoutMs ?? 20 * 60_000;
  const peers: PeerProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(peers.reverse().map(async (peer) => peer.stop('SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const address = options.address ?? '127.0.0.1';
    makeCertificates(dir, address);
    writeFileSync(join(dir, 'tokens.csv'), `${ADMIN_TOKEN},admin,admin,system:masters\n`);
    const etcdPort = await freePort();
    const etcdPeerPort = await freePort((port) => port !== etcdPort);
    const etcd = spawnPeer(
      tools.etcd,
      [
        '--name=test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=test=http://127.0.0.1:${etcdPeerPort}`,
        // A test's store: nothing to keep across a power cut.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      { timeoutMs, stopSignal: 'SIGTERM' },
    );
    peers.push(etcd);
    const port = await freePort(
      (candidate) => candidate !== etcdPort && candidate !== etcdPeerPort,
    );
    const apiserver = spawnPeer(
      tools.kubeApiserver,
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        `--bind-address=${address}`,
        `--advertise-address=${address}`,
        `--secure-port=${port}`,
        `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
        `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
        `--client-ca-file=${join(dir, 'ca.crt')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-cluster-ip-range=10.96.0.0/16',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--allow-privileged=true',
        // The `kubernetes` Service's endpoints would name the advertise
        // address, which may not be loopback; envtest turns it off likewise.
        '--endpoint-reconciler-type=none',
        `--cert-dir=${join(dir, 'certs')}`,
        '--v=0',
      ],
      { timeoutMs, stopSignal: 'SIGTERM', killAfterMs: 5_000 },
    );
    peers.push(apiserver);
    const url = `https://${address}:${port}`;
    const caFile = join(dir, 'ca.crt');
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: test`,
        `  cluster: { server: "${url}", certificate-authority: "${caFile}" }`,
        'users:',
        `- name: admin`,
        `  user: { token: "${ADMIN_TOKEN}" }`,
        'contexts:',
        `- name: test`,
        `  context: { cluster: test, user: admin, namespace: default }`,
        'current-context: test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const run = (command: string, args: readonly string[], stdin?: string): Promise<string> =>
      runTool(command, args, { KUBECONFIG: kubeconfig, HOME: dir }, stdin);
    await waitReady(run, tools, apiserver, etcd);
    return {
      url,
      kubeconfig,
      caFile,
      adminToken: ADMIN_TOKEN,
      tools,
      dir,
      kubectl: (args, stdin) => run(tools.kubectl, args, stdin),
      helm: (args, stdin) => run(tools.helm, args, stdin),
      createToken: async (namespace, serviceAccount, audience, boundPod) =>
        (
          await run(tools.kubectl, [
            'create',
            'token',
            serviceAccount,
            '-n',
            namespace,
            '--duration=1h',
            ...(audience === undefined ? [] : [`--audience=${audience}`]),
            ...(boundPod === undefined
              ? []
              : [
                  '--bound-object-kind=Pod',
                  `--bound-object-name=${boundPod.name}`,
                  `--bound-object-uid=${boundPod.uid}`,
                ]),
          ])
        ).trim(),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Until /readyz answers ok (etcd reached, bootstrap controllers done), within 60 s. */
async function waitReady(
  run: (command: string, args: readonly string[]) => Promise<string>,
  tools: KubeTools,
  apiserver: PeerProcess,
  etcd: PeerProcess,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    for (const [name, peer] of [
      ['kube-apiserver', apiserver],
      ['etcd', etcd],
    ] as const) {
      if (!peer.running()) {
        throw new Error(`${name} exited while starting:\n${peer.stderr().slice(-4000)}`);
      }
    }
    try {
      if ((await run(tools.kubectl, ['get', '--raw', '/readyz'])).trim() === 'ok') return;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `kube-apiserver not ready within 60 s (${last}):\n${apiserver.stderr().slice(-4000)}`,
  );
}

function runTool(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  stdin?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      [...args],
      { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolve(stdout);
        else {
          const failure = new Error(
            `${command.split('/').at(-1) ?? command} ${args.join(' ')}: ${stderr.trim() || error.message}`,
          );
          reject(Object.assign(failure, { stdout, stderr }));
        }
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

/** A CA, the API server's leaf for its address and localhost, and the ServiceAccount signing key. */
function makeCertificates(dir: string, address: string): void {
  const openssl = (args: readonly string[]): void => {
    const result = spawnSync('openssl', [...args], { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) {
      throw new Error(`openssl ${args.join(' ')}: ${result.stderr || String(result.error)}`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=streammesh-test-kube-ca',
  ]);
  openssl([
    'req',
    ...ec,
    '-keyout',
    'apiserver.key',
    '-out',
    'apiserver.csr',
    '-subj',
    '/CN=kube-apiserver',
  ]);
  writeFileSync(
    join(dir, 'apiserver.ext'),
    `subjectAltName=IP:127.0.0.1,IP:${address},DNS:localhost,DNS:kubernetes.default.svc\n` +
      'extendedKeyUsage=serverAuth\n',
  );
  openssl([
    'x509',
    '-req',
    '-in',
    'apiserver.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'apiserver.crt',
    '-days',
    '2',
    '-extfile',
    'apiserver.ext',
  ]);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key']);
  openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}
