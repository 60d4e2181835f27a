/**
 * Runs a rendered pod spec the way a kubelet would, as far as this machine
 * allows: no container runtime runs here, so a "pod" is the container's
 * process started exactly as its spec says, in a network namespace of its
 * own standing in for the pod's network (netns.ts), with:
 * - the image's filesystem: the repository bind-mounted at the image's
 *   WORKDIR (/app: what the Dockerfile copies there), in a private mount
 *   namespace;
 * - every volumeMount made from the real objects in the API server: each
 *   ConfigMap and Secret key written as a file, projected ServiceAccount
 *   tokens requested with TokenRequest bound to the Pod object (so
 *   TokenReview names the pod), emptyDirs, downward API items; read-only
 *   where the mount says so, and the root filesystem read-only when the
 *   container's securityContext says readOnlyRootFilesystem;
 * - the container's env resolved as kubelet resolves it (value, fieldRef to
 *   the pod's name, namespace, IP, host IP, node and ServiceAccount,
 *   secretKeyRef, configMapKeyRef, envFrom), plus KUBERNETES_SERVICE_HOST
 *   and _PORT for the in-cluster client, and nothing of the test's own
 *   environment;
 * - the user and group of its securityContext (setpriv).
 * The Pod object itself is created in the API server from the template
 * (admission and defaulting are real) and its status written as kubelet
 * would (podIP, hostIP, Running, Ready after the readiness probe passes).
 *
 * What this does not do: scheduling, image pulls, cgroups (resource
 * requests and limits), restarts, liveness kills, CNI, kube-proxy (Service
 * names resolve through the namespace's /etc/hosts, written by the test).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  rmSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from '../process.js';
import type { KubeApiServer } from './api-server.js';

/* Just the fields of the Kubernetes types this runner reads. */
export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    readonly fieldRef?: { readonly fieldPath: string };
    readonly secretKeyRef?: KeyRef;
    readonly configMapKeyRef?: KeyRef;
  };
}
interface KeyRef {
  readonly name: string;
  readonly key: string;
  readonly optional?: boolean;
}
interface KeyToPath {
  readonly key: string;
  readonly path: string;
}
interface VolumeProjection {
  readonly serviceAccountToken?: {
    readonly audience?: string;
    readonly expirationSeconds?: number;
    readonly path: string;
  };
  readonly configMap?: {
    readonly name: string;
    readonly items?: KeyToPath[];
    readonly optional?: boolean;
  };
  readonly secret?: {
    readonly name: string;
    readonly items?: KeyToPath[];
    readonly optional?: boolean;
  };
  readonly downwardAPI?: { readonly items?: { path: string; fieldRef?: { fieldPath: string } }[] };
}
export interface Volume {
  readonly name: string;
  readonly configMap?: {
    readonly name: string;
    readonly items?: KeyToPath[];
    readonly optional?: boolean;
    readonly defaultMode?: number;
  };
  readonly secret?: {
    readonly secretName: string;
    readonly defaultMode?: number;
    readonly items?: KeyToPath[];
    readonly optional?: boolean;
  };
  readonly emptyDir?: Record<string, unknown>;
  readonly projected?: { readonly sources: VolumeProjection[]; readonly defaultMode?: number };
  readonly downwardAPI?: { readonly items?: { path: string; fieldRef?: { fieldPath: string } }[] };
}
interface Probe {
  readonly httpGet?: { readonly path?: string; readonly port: number | string };
}
export interface Container {
  readonly name: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly env?: EnvVar[];
  readonly envFrom?: {
    configMapRef?: { name: string };
    secretRef?: { name: string };
    prefix?: string;
  }[];
  readonly ports?: { name?: string; containerPort: number; protocol?: string }[];
  readonly volumeMounts?: {
    name: string;
    mountPath: string;
    readOnly?: boolean;
    subPath?: string;
  }[];
  readonly readinessProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly securityContext?: {
    readonly runAsUser?: number;
    readonly runAsGroup?: number;
    readonly runAsNonRoot?: boolean;
    readonly readOnlyRootFilesystem?: boolean;
  };
}
export interface PodSpec {
  readonly containers: Container[];
  readonly volumes?: Volume[];
  readonly serviceAccountName?: string;
  readonly hostNetwork?: boolean;
  readonly securityContext?: {
    readonly runAsUser?: number;
    readonly runAsGroup?: number;
    readonly fsGroup?: number;
  };
}
export interface PodTemplate {
  readonly metadata?: {
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly spec: PodSpec;
}

/** What the image gives a container without a `command` (the Dockerfile's ENTRYPOINT and WORKDIR). */
export interface Image {
  readonly entrypoint: readonly string[];
  readonly workdir: string;
}

export interface PodNetwork {
  /** The network namespace standing in for the pod's network. */
  readonly netns: string;
  /** Its address: the pod IP (with host networking, the "node's" address). */
  readonly ip: string;
  /** Service and host names the pod resolves, as cluster DNS would answer them. */
  readonly hosts: Readonly<Record<string, readonly string[]>>;
}

export interface StartPodOptions {
  readonly kube: KubeApiServer;
  readonly namespace: string;
  readonly name: string;
  readonly template: PodTemplate;
  readonly image: Image;
  readonly network: PodNetwork;
  /** The name of the "node" it runs on (spec.nodeName, and fieldRef spec.nodeName). */
  readonly nodeName: string;
  /** Where the API server is reached from the pod (KUBERNETES_SERVICE_HOST and _PORT). */
  readonly apiServer: { readonly host: string; readonly port: number };
}

export interface RunningPod {
  readonly name: string;
  readonly ip: string;
  readonly process: ChildProcess;
  /** The container's stdout and stderr so far. */
  output(): string;
  /** Resolves once its readiness probe answers 2xx (then the Pod's Ready is written True). */
  waitReady(timeoutMs: number): Promise<void>;
  /** Signals the container's process (the process itself: it is the exec'd node). */
  signal(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  exited(): Promise<void>;
  /** Kills the process (if still running) and deletes its volumes; the Pod object stays. */
  stop(): Promise<void>;
}

/**
 * Where the pods' volumes are made, one directory per pod. Not under /tmp:
 * pod specs mount an emptyDir there, which would hide the volumes' sources
 * from the mounts made after it.
 */
const PODS_DIR = join('/var/tmp', `streammesh-pods-${process.pid}`);

/** Mount points made on the shared filesystem, deepest first. */
const createdMountPoints: string[] = [];

/**
 * Removes the mount points startPod made, and the pods' volume directory.
 * Only once every pod has stopped:
 * removing a path another pod's mount namespace has a mount on detaches it
 * there (Linux >= 3.18).
 */
export function removeMountPoints(): void {
  rmSync(PODS_DIR, { recursive: true, force: true });
  for (const path of createdMountPoints.splice(0)) {
    try {
      if (statSync(path).isFile()) unlinkSync(path);
      else rmdirSync(path);
    } catch {
      // Gone already, or not empty: something else put a file there; leave it.
    }
  }
}

/** Volume files' mode when the volume names none, as Kubernetes defaults it. */
const DEFAULT_MODE = 0o644;

/** A uid and gid for containers that name none: Kubernetes would use the image's user. */
const DEFAULT_UID = 10001;

export async function startPod(options: StartPodOptions): Promise<RunningPod> {
  const { kube, namespace, name, network } = options;
  const pod = await createPodObject(options);
  // The created Pod's container, with what admission added (the ServiceAccount's API access mount).
  const container = pod.spec.containers[0];
  if (container === undefined) throw new Error(`pod ${name}: no container`);
  const scratch = join(PODS_DIR, name);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true, mode: 0o755 });
  const fields = fieldValues(options, pod.uid);
  const volumes = await materializeVolumes(options, pod, scratch, fields);
  const env = await containerEnv(options, container, fields);
  const { uid, gid } = podUser(pod.spec);
  writeHosts(network);
  const mounts: string[] = [`mount --bind ${quote(repoRoot)} ${quote(options.image.workdir)}`];
  /**
   * Mount points must exist on the shared filesystem (a directory, or a file
   * for a file's subPath mount); removeMountPoints() removes the ones made
   * here once every pod has stopped.
   */
  const mountPoint = (path: string, file: boolean): void => {
    if (existsSync(path)) return;
    const missing: string[] = [];
    for (let dir = dirname(path); !existsSync(dir); dir = dirname(dir)) missing.unshift(dir);
    for (const dir of missing) {
      mkdirSync(dir);
      createdMountPoints.unshift(dir);
    }
    if (file) writeFileSync(path, '');
    else mkdirSync(path);
    createdMountPoints.unshift(path);
  };
  mountPoint(options.image.workdir, false);
  for (const mount of container.volumeMounts ?? []) {
    const source = volumes.get(mount.name);
    if (source === undefined)
      throw new Error(`pod ${name}: volumeMount ${mount.name} has no volume`);
    const from = mount.subPath === undefined ? source : join(source, mount.subPath);
    mountPoint(mount.mountPath, statSync(from).isFile());
    mounts.push(`mount --bind ${quote(from)} ${quote(mount.mountPath)}`);
    if (mount.readOnly === true) {
      mounts.push(`mount -o remount,bind,ro ${quote(mount.mountPath)}`);
    }
  }
  if (container.securityContext?.readOnlyRootFilesystem === true) {
    // Only this pod's mount namespace sees the root read-only.
    mounts.push('mount -o remount,bind,ro /');
  }
  const command = [...(container.command ?? options.image.entrypoint), ...(container.args ?? [])];
  const identity = [`--reuid=${uid}`, `--regid=${gid}`];
  const script = [
    'set -e',
    ...mounts,
    `cd ${quote(options.image.workdir)}`,
    `exec setpriv ${identity.join(' ')} --clear-groups env -i ${Object.entries(env)
      .map(([key, value]) => quote(`${key}=${value}`))
      .join(' ')} ${command.map(quote).join(' ')}`,
  ].join('\n');
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      network.netns,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      script,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer): void => {
    if (output.length < 2_000_000) output += chunk.toString('utf8');
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killAtExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killAtExit);
  const probe = container.readinessProbe?.httpGet;
  let ready = false;
  return {
    name,
    ip: network.ip,
    process: child,
    output: () => output,
    async waitReady(timeoutMs) {
      if (probe === undefined) throw new Error(`pod ${name}: no readiness probe`);
      const port = probePort(container, probe.port);
      const url = `http://${network.ip}:${port}${probe.path ?? '/'}`;
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `pod ${name} exited (${String(child.exitCode ?? child.signalCode)}):\n${output.slice(-4000)}`,
          );
        }
        const status = await fetch(url, { signal: AbortSignal.timeout(1_000) })
          .then((response) => response.status)
          .catch(() => 0);
        if (status >= 200 && status < 400) {
          if (!ready) {
            ready = true;
            await writePodStatus(kube, namespace, name, network.ip, options, true);
          }
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      throw new Error(
        `pod ${name}: ${url} not ready within ${timeoutMs} ms:\n${output.slice(-4000)}`,
      );
    },
    signal(signal) {
      child.kill(signal);
    },
    exited: () => exit,
    async stop() {
      process.off('exit', killAtExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** The Pod object from the template, created for real, then given the status kubelet would write. */
async function createPodObject(options: StartPodOptions): Promise<{ uid: string; spec: PodSpec }> {
  const { kube, namespace, name, template, nodeName } = options;
  const manifest = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: template.metadata?.labels ?? {},
      annotations: template.metadata?.annotations ?? {},
    },
    spec: { ...template.spec, nodeName },
  };
  await kube.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(manifest));
  await writePodStatus(kube, namespace, name, options.network.ip, options, false);
  const created = JSON.parse(
    await kube.kubectl(['-n', namespace, 'get', 'pod', name, '-o', 'json']),
  ) as { metadata: { uid: string }; spec: PodSpec };
  return { uid: created.metadata.uid, spec: created.spec };
}

async function writePodStatus(
  kube: KubeApiServer,
  namespace: string,
  name: string,
  ip: string,
  options: StartPodOptions,
  ready: boolean,
): Promise<void> {
  const now = new Date().toISOString();
  const status = {
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      hostIP: options.network.ip,
      hostIPs: [{ ip: options.network.ip }],
      startTime: now,
      conditions: [
        { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
        { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now },
      ],
    },
  };
  await kube.kubectl([
    ...['-n', namespace, 'patch', 'pod', name, '--subresource=status', '--type=merge'],
    ...['-p', JSON.stringify(status)],
  ]);
}

type Fields = Readonly<Record<string, string>>;

function fieldValues(options: StartPodOptions, uid: string): Fields {
  return {
    'metadata.name': options.name,
    'metadata.namespace': options.namespace,
    'metadata.uid': uid,
    'status.podIP': options.network.ip,
    'status.hostIP': options.network.ip,
    'spec.nodeName': options.nodeName,
    'spec.serviceAccountName': options.template.spec.serviceAccountName ?? 'default',
  };
}

function fieldOf(fields: Fields, path: string, where: string): string {
  const value = fields[path];
  if (value === undefined)
    throw new Error(`${where}: fieldRef ${path} is not one the runner knows`);
  return value;
}

async function objectData(
  kube: KubeApiServer,
  namespace: string,
  kind: 'configmap' | 'secret',
  name: string,
  optional: boolean,
): Promise<Record<string, Buffer> | undefined> {
  let json: string;
  try {
    json = await kube.kubectl(['-n', namespace, 'get', kind, name, '-o', 'json']);
  } catch (error) {
    if (optional && /NotFound/.test(String(error))) return undefined;
    throw error;
  }
  const object = JSON.parse(json) as { data?: Record<string, string> };
  const data: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(object.data ?? {})) {
    data[key] = kind === 'secret' ? Buffer.from(value, 'base64') : Buffer.from(value, 'utf8');
  }
  return data;
}

function writeKeys(
  dir: string,
  data: Readonly<Record<string, Buffer>>,
  items: readonly KeyToPath[] | undefined,
  mode: number,
): void {
  const chosen = items ?? Object.keys(data).map((key) => ({ key, path: key }));
  for (const { key, path } of chosen) {
    const value = data[key];
    if (value === undefined) continue;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), value, { mode });
  }
}

/** The user and group the pod's (first) container runs as. */
function podUser(spec: PodSpec): { uid: number; gid: number } {
  const container = spec.containers[0]?.securityContext;
  const uid = container?.runAsUser ?? spec.securityContext?.runAsUser ?? DEFAULT_UID;
  const gid = container?.runAsGroup ?? spec.securityContext?.runAsGroup ?? uid;
  return { uid, gid };
}

/** Each volume as a directory under scratch, filled from the API server. */
async function materializeVolumes(
  options: StartPodOptions,
  pod: { uid: string; spec: PodSpec },
  scratch: string,
  fields: Fields,
): Promise<Map<string, string>> {
  const { kube, namespace, name } = options;
  const made = new Map<string, string>();
  for (const volume of pod.spec.volumes ?? []) {
    const dir = join(scratch, 'volumes', volume.name);
    mkdirSync(dir, { recursive: true, mode: 0o777 });
    made.set(volume.name, dir);
    if (volume.emptyDir !== undefined) {
      // The container's user writes here.
      spawnSync('chmod', ['1777', dir]);
    } else if (volume.configMap !== undefined) {
      const data = await configMapData(options, volume.configMap.name, volume.configMap.optional);
      if (data !== undefined) {
        writeKeys(dir, data, volume.configMap.items, volume.configMap.defaultMode ?? DEFAULT_MODE);
      }
    } else if (volume.secret !== undefined) {
      const data = await objectData(
        kube,
        namespace,
        'secret',
        volume.secret.secretName,
        volume.secret.optional === true,
      );
      if (data !== undefined) {
        writeKeys(dir, data, volume.secret.items, volume.secret.defaultMode ?? DEFAULT_MODE);
      }
    } else if (volume.downwardAPI !== undefined) {
      writeDownward(dir, volume.downwardAPI.items, fields, name);
    } else if (volume.projected !== undefined) {
      const mode = volume.projected.defaultMode ?? DEFAULT_MODE;
      for (const source of volume.projected.sources) {
        if (source.serviceAccountToken !== undefined) {
          const { audience, expirationSeconds, path } = source.serviceAccountToken;
          const token = await kube.kubectl([
            ...['create', 'token', pod.spec.serviceAccountName ?? 'default', '-n', namespace],
            `--duration=${expirationSeconds ?? 3607}s`,
            ...(audience === undefined ? [] : [`--audience=${audience}`]),
            ...[
              '--bound-object-kind=Pod',
              `--bound-object-name=${name}`,
              `--bound-object-uid=${pod.uid}`,
            ],
          ]);
          writeFileSync(join(dir, path), token.trim(), { mode });
        } else if (source.configMap !== undefined) {
          const data = await configMapData(
            options,
            source.configMap.name,
            source.configMap.optional,
          );
          if (data !== undefined) writeKeys(dir, data, source.configMap.items, mode);
        } else if (source.secret !== undefined) {
          const data = await objectData(
            kube,
            namespace,
            'secret',
            source.secret.name,
            source.secret.optional === true,
          );
          if (data !== undefined) writeKeys(dir, data, source.secret.items, mode);
        } else if (source.downwardAPI !== undefined) {
          writeDownward(dir, source.downwardAPI.items, fields, name);
        }
      }
    } else {
      throw new Error(`pod ${name}: volume ${volume.name} is of a kind the runner does not make`);
    }
  }
  // Kubelet gives a pod whose containers share one user its volumes' files
  // (the projected token above all, mode 0400/0600) owned by that user.
  const user = podUser(pod.spec);
  spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, join(scratch, 'volumes')]);
  return made;
}

/**
 * A ConfigMap's data; kube-root-ca.crt (which controller-manager publishes
 * in every namespace, and which does not run here) is the API server's CA.
 */
async function configMapData(
  options: StartPodOptions,
  configMap: string,
  optional: boolean | undefined,
): Promise<Record<string, Buffer> | undefined> {
  if (configMap === 'kube-root-ca.crt') {
    const ca = spawnSync('cat', [options.kube.caFile]).stdout;
    return { 'ca.crt': ca };
  }
  return objectData(options.kube, options.namespace, 'configmap', configMap, optional === true);
}

function writeDownward(
  dir: string,
  items: readonly { path: string; fieldRef?: { fieldPath: string } }[] | undefined,
  fields: Fields,
  pod: string,
): void {
  for (const item of items ?? []) {
    if (item.fieldRef === undefined) continue;
    writeFileSync(join(dir, item.path), fieldOf(fields, item.fieldRef.fieldPath, `pod ${pod}`));
  }
}

async function containerEnv(
  options: StartPodOptions,
  container: Container,
  fields: Fields,
): Promise<Record<string, string>> {
  const { kube, namespace, name } = options;
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOSTNAME: name,
    HOME: '/',
    KUBERNETES_SERVICE_HOST: options.apiServer.host,
    KUBERNETES_SERVICE_PORT: String(options.apiServer.port),
  };
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (ref === undefined) continue;
    const kind = from.configMapRef === undefined ? 'secret' : 'configmap';
    const data = (await objectData(kube, namespace, kind, ref.name, false)) ?? {};
    for (const [key, value] of Object.entries(data))
      env[`${from.prefix ?? ''}${key}`] = value.toString('utf8');
  }
  for (const variable of container.env ?? []) {
    const { valueFrom } = variable;
    if (variable.value !== undefined) {
      // $(VAR) refers to a variable defined earlier, as kubelet expands it.
      env[variable.name] = variable.value.replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (whole, ref: string) => env[ref] ?? whole,
      );
    } else if (valueFrom?.fieldRef !== undefined) {
      env[variable.name] = fieldOf(
        fields,
        valueFrom.fieldRef.fieldPath,
        `pod ${name} env ${variable.name}`,
      );
    } else if (valueFrom?.secretKeyRef !== undefined || valueFrom?.configMapKeyRef !== undefined) {
      const ref = valueFrom.secretKeyRef ?? valueFrom.configMapKeyRef;
      if (ref === undefined) continue;
      const kind = valueFrom.secretKeyRef === undefined ? 'configmap' : 'secret';
      const data = await objectData(kube, namespace, kind, ref.name, ref.optional === true);
      const value = data?.[ref.key];
      if (value !== undefined) env[variable.name] = value.toString('utf8');
      else if (ref.optional !== true)
        throw new Error(
          `pod ${name} env ${variable.name}: ${kind} ${ref.name} has no key ${ref.key}`,
        );
    } else {
      env[variable.name] = '';
    }
  }
  return env;
}

function probePort(container: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((candidate) => candidate.name === port);
  if (named === undefined) throw new Error(`container ${container.name}: no port named ${port}`);
  return named.containerPort;
}

/** /etc/netns/<ns>/hosts: `ip netns exec` mounts it over /etc/hosts for the pod's processes. */
function writeHosts(network: PodNetwork): void {
  const dir = join('/etc/netns', network.netns);
  mkdirSync(dir, { recursive: true });
  const lines = ['127.0.0.1 localhost', '::1 localhost'];
  for (const [host, addresses] of Object.entries(network.hosts)) {
    for (const address of addresses) lines.push(`${address} ${host}`);
  }
  writeFileSync(join(dir, 'hosts'), `${lines.join('\n')}\n`);
}

/** Removes what writeHosts made for a namespace. */
export function removeHosts(netns: string): void {
  rmSync(join('/etc/netns', netns), { recursive: true, force: true });
}

function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
