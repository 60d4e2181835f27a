/**
 * The Pods of the proxies and SFU (signaling) nodes, by the chart's labels
 * (app.kubernetes.io/name=streammesh, app.kubernetes.io/component proxy or
 * signaling), listed and watched in the control plane's namespace. A node's
 * id is its Pod's name (the chart sets STREAMMESH_PROXY_ID and
 * STREAMMESH_SIGNALING_ID from metadata.name), so each Pod is handed to
 * the registry under that id: GET /nodes shows where a node runs, and a
 * node whose Pod is deleted is stale at once, so placement, pipes and hops
 * leave it without waiting for its missed heartbeats (registry.ts).
 *
 * A deletion while no watch was open comes with the resumed watch, or, when
 * the API server no longer has that history (410), at the next list (a Pod
 * known before and not listed now). A Pod seen before its node
 * registers is handed over when it does.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import type { PodRecord } from '../../registry/index.js';
import type { KubernetesContext, RunningSource, SourceStarter } from '../sources.js';
import { collectionWatchClient, ListWatch, type WatchEventType } from '../list-watch.js';
import { droppedCounter } from './metrics.js';
import { parsePod, type PodDefect } from './pods.js';

/** Pods kept at most: far more mesh nodes than one control plane serves (a hostile server's flood is dropped). */
export const MAX_PODS = 10_000;

export const MESH_POD_SELECTOR =
  'app.kubernetes.io/name=streammesh,app.kubernetes.io/component in (proxy,signaling)';

export class PodSource implements RunningSource {
  readonly #context: KubernetesContext;
  /** Live Pods by name (deleted ones leave: the registry's record keeps them). */
  readonly #pods = new Map<string, PodRecord>();
  readonly #watch: ListWatch;
  readonly #count: (defect: PodDefect) => void;
  readonly #onRegistered = (id: string): void => {
    const pod = this.#pods.get(id);
    if (pod !== undefined) this.#context.registry.podSeen(id, pod);
  };

  constructor(context: KubernetesContext) {
    this.#context = context;
    const dropped = droppedCounter(context.metrics);
    this.#count = (reason) => dropped.inc({ kind: 'Pod', reason });
    const api = context.kube.kubeConfig.makeApiClient(CoreV1Api);
    const namespace = context.kube.namespace;
    this.#watch = new ListWatch({
      client: collectionWatchClient(
        context.kube.kubeConfig,
        `/api/v1/namespaces/${namespace}/pods`,
        () => api.listNamespacedPod({ namespace, labelSelector: MESH_POD_SELECTOR }),
        { labelSelector: MESH_POD_SELECTOR },
      ),
      onList: (items) => this.#listed(items),
      onEvent: (type, object) => this.#event(type, object),
      log: context.log.child({ source: 'pods' }),
    });
  }

  start(): void {
    this.#context.registry.on('registered', this.#onRegistered);
    this.#watch.start();
  }

  #listed(items: readonly unknown[]): void {
    const listed = new Map<string, PodRecord>();
    if (items.length > MAX_PODS) this.#count('too_many_pods');
    for (const item of items.slice(0, MAX_PODS)) {
      const pod = parsePod(item, this.#count);
      if (pod !== undefined) listed.set(pod.name, { ...pod, deletedAt: null });
    }
    for (const [name, pod] of this.#pods) {
      if (listed.get(name)?.uid !== pod.uid) this.#deleted(pod);
    }
    for (const pod of listed.values()) this.#seen(pod);
  }

  #event(type: WatchEventType, object: unknown): void {
    const pod = parsePod(object, this.#count);
    if (pod === undefined) return;
    if (type !== 'DELETED') {
      this.#seen({ ...pod, deletedAt: null });
      return;
    }
    const known = this.#pods.get(pod.name);
    // A newer Pod of the same name (a StatefulSet's replacement) holds the id.
    if (known !== undefined && known.uid !== pod.uid) return;
    this.#deleted({ ...pod, deletedAt: null });
  }

  #seen(pod: PodRecord): void {
    if (!this.#pods.has(pod.name) && this.#pods.size >= MAX_PODS) {
      this.#count('too_many_pods');
      return;
    }
    this.#pods.set(pod.name, pod);
    this.#context.registry.podSeen(pod.name, pod);
  }

  #deleted(pod: PodRecord): void {
    this.#pods.delete(pod.name);
    const gone = { ...pod, deletedAt: new Date().toISOString() };
    if (this.#context.registry.podSeen(pod.name, gone)) {
      this.#context.log.info({ node: pod.name }, 'node gone: its pod was deleted');
    }
  }

  async close(): Promise<void> {
    this.#context.registry.off('registered', this.#onRegistered);
    await this.#watch.close();
  }
}

export const startPodSource: SourceStarter = (context) => {
  const source = new PodSource(context);
  source.start();
  return Promise.resolve(source);
};
