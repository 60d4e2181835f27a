/**
 * The Helm chart as the chart tests read it: where it is, its example values
 * files, a rendered manifest split into objects (the `yaml` package's
 * parseAllDocuments: a document that does not parse fails the test, it is
 * not skipped), the pod templates of its workloads, and the environment a
 * container would get from the kubelet (downward API fields and Secret keys
 * filled in with a stand-in pod's values, `$(VAR)` references expanded as
 * the kubelet expands them).
 *
 * The object types name only what the tests read; the real schemas are the
 * API server's, which the tests apply every object to (server-side dry run).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../process.js';

export const chartDir = join(repoRoot, 'helm', 'streammesh');
export const crdDir = join(chartDir, 'crds');

/** helm/streammesh/examples/*.yaml, sorted: one values file per scenario. */
export function exampleValuesFiles(): readonly string[] {
  const dir = join(chartDir, 'examples');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => join(dir, name));
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly spec?: Record<string, unknown>;
  readonly data?: Readonly<Record<string, string>>;
  readonly rules?: readonly PolicyRule[];
  readonly roleRef?: { readonly kind: string; readonly name: string };
  readonly subjects?: readonly { readonly kind: string; readonly name: string }[];
}

export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly verbs: readonly string[];
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    readonly fieldRef?: { readonly fieldPath: string };
    readonly secretKeyRef?: { readonly name: string; readonly key: string };
  };
}

export interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: string | number };
}

export interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: readonly string[];
  readonly command?: readonly string[];
  readonly env?: readonly EnvVar[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly resources?: {
    readonly requests?: Readonly<Record<string, string | number>>;
    readonly limits?: Readonly<Record<string, string | number>>;
  };
  readonly securityContext?: {
    readonly runAsNonRoot?: boolean;
    readonly runAsUser?: number;
    readonly readOnlyRootFilesystem?: boolean;
    readonly allowPrivilegeEscalation?: boolean;
    readonly capabilities?: { readonly drop?: readonly string[] };
  };
  readonly volumeMounts?: readonly {
    readonly name: string;
    readonly mountPath: string;
    readonly subPath?: string;
  }[];
}

export interface PodSpec {
  readonly containers: readonly Container[];
  readonly serviceAccountName?: string;
  readonly hostNetwork?: boolean;
  readonly dnsPolicy?: string;
  readonly terminationGracePeriodSeconds?: number;
  readonly volumes?: readonly Record<string, unknown>[];
}

/** The objects of a rendered manifest, in order; an unparsable document throws. */
export function parseManifest(text: string): readonly KubeObject[] {
  const objects: KubeObject[] = [];
  for (const document of parseAllDocuments(text)) {
    const first = document.errors[0];
    if (first !== undefined) throw new Error(`rendered YAML does not parse: ${first.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as KubeObject);
  }
  return objects;
}

/** The one object of this kind and name; throws naming what is there instead. */
export function objectNamed(
  objects: readonly KubeObject[],
  kind: string,
  name: string,
): KubeObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) {
    const present = objects.map((object) => `${object.kind}/${object.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} rendered; there are: ${present}`);
  }
  return found;
}

export interface Workload {
  readonly object: KubeObject;
  readonly pod: PodSpec;
}

/** The Deployments, DaemonSets and StatefulSets with their pod templates. */
export function workloads(objects: readonly KubeObject[]): readonly Workload[] {
  return objects
    .filter((object) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(object.kind))
    .map((object) => {
      const template = object.spec?.['template'] as { spec: PodSpec } | undefined;
      if (template === undefined) throw new Error(`${object.metadata.name} has no pod template`);
      return { object, pod: template.spec };
    });
}

/** What the kubelet would know of a pod: its downward API fields. */
export interface StandInPod {
  readonly name: string;
  readonly namespace: string;
  readonly podIP: string;
  readonly hostIP: string;
}

/**
 * The container's environment as the kubelet would give it: fieldRef from
 * the stand-in pod, secretKeyRef from `secrets` (name/key), and `$(NAME)`
 * in a value replaced by an earlier variable's value (as the kubelet does;
 * an unknown reference stays as written).
 */
export function containerEnvironment(
  container: Container,
  pod: StandInPod,
  secrets: Readonly<Record<string, string>>,
): Record<string, string> {
  const fields: Record<string, string> = {
    'metadata.name': pod.name,
    'metadata.namespace': pod.namespace,
    'status.podIP': pod.podIP,
    'status.hostIP': pod.hostIP,
  };
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const { fieldRef, secretKeyRef } = variable.valueFrom ?? {};
    let value: string | undefined;
    if (variable.value !== undefined) {
      value = variable.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) =>
        Object.hasOwn(env, name) ? (env[name] ?? whole) : whole,
      );
    } else if (fieldRef !== undefined) {
      value = fields[fieldRef.fieldPath];
    } else if (secretKeyRef !== undefined) {
      value = secrets[`${secretKeyRef.name}/${secretKeyRef.key}`];
    }
    if (value === undefined) {
      throw new Error(`${container.name}: env ${variable.name} has no value the test can give`);
    }
    env[variable.name] = value;
  }
  return env;
}
