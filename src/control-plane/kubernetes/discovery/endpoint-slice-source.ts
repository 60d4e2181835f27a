/**
 * HTTP clusters' endpoints from their Service's EndpointSlices: for each
 * cluster of the base config with `service`, one list+watch of the slices
 * labelled kubernetes.io/service-name=<name> in its namespace (default: the
 * kube client's). The endpoints (endpoint-slices.ts for the rule) are laid
 * over the base as the layer "endpoint-slices", which sets each such
 * cluster's `endpoints` once its Service was listed; until then the file's
 * endpoints stay. Nodes get a config that changes only endpoint lists,
 * which they apply in place (rtp-proxy/l7/cluster/cluster.ts): endpoints
 * follow pods without rebuilding clusters, and an unchanged set pushes
 * nothing (the store serves the same JSON).
 *
 * The starter resolves once the Services of the base were listed and laid
 * (bounded: initial-lists.ts), so nodes are never served the file's
 * endpoints for a Service that has its own. The base changing (a file edit or PUT /config adds or drops a cluster
 * with `service`) starts and stops watches. Slices that cannot be read are
 * dropped and counted (streammesh_control_plane_kubernetes_dropped_total);
 * a layer the store refuses is logged and counted, the last good config
 * staying in force.
 */
import { DiscoveryV1Api } from '@kubernetes/client-node';
import { Counter } from 'prom-client';
import type { MeshConfig } from '../../../config/index.js';
import { errorMessage } from '../../../shared/errors.js';
import type { ConfigLayer } from '../../config-push/index.js';
import type { KubernetesContext, RunningSource, SourceStarter } from '../sources.js';
import {
  ServiceSlices,
  endpointsFor,
  type CountDefect,
  type SliceDefect,
  type SliceEndpoints,
} from './endpoint-slices.js';
import { initialLists } from '../initial-lists.js';
import { collectionWatchClient, ListWatch } from '../list-watch.js';
import { droppedCounter } from './metrics.js';

export const ENDPOINT_SLICES_LAYER = 'endpoint-slices';
const ORIGIN = 'kubernetes EndpointSlices';

interface ServiceRef {
  readonly namespace: string;
  readonly name: string;
}

/** One watched Service: its list+watch and the slices it handed over. */
interface WatchedService {
  readonly watch: ListWatch;
  readonly slices: ServiceSlices;
}

const keyOf = (service: ServiceRef): string => `${service.namespace}/${service.name}`;

/** The Services the base config's clusters name, by key. */
function servicesOf(config: MeshConfig, defaultNamespace: string): Map<string, ServiceRef> {
  const services = new Map<string, ServiceRef>();
  for (const cluster of config.proxy.http.clusters) {
    if (cluster.service === undefined) continue;
    const service = {
      namespace: cluster.service.namespace ?? defaultNamespace,
      name: cluster.service.name,
    };
    services.set(keyOf(service), service);
  }
  return services;
}

/**
 * The layer for the slices known now: each cluster whose Service was listed
 * gets its endpoints; the others keep the base's. A pure function of the base.
 * Each Service and port is merged once per layer (the store lays it again
 * whenever the base or another layer changes), so its defects count once.
 */
export function endpointSlicesLayer(
  slicesByService: ReadonlyMap<string, readonly SliceEndpoints[]>,
  defaultNamespace: string,
  count: CountDefect,
): ConfigLayer {
  const merged = new Map<string, readonly string[]>();
  const endpointsOf = (key: string, port: string | number): readonly string[] | undefined => {
    const slices = slicesByService.get(key);
    if (slices === undefined) return undefined;
    const memo = `${key} ${typeof port} ${port}`;
    let endpoints = merged.get(memo);
    if (endpoints === undefined) {
      endpoints = endpointsFor(slices, port, count);
      merged.set(memo, endpoints);
    }
    return endpoints;
  };
  return (base) => ({
    ...base,
    proxy: {
      ...base.proxy,
      http: {
        ...base.proxy.http,
        clusters: base.proxy.http.clusters.map((cluster) => {
          if (cluster.service === undefined) return cluster;
          const key = keyOf({
            namespace: cluster.service.namespace ?? defaultNamespace,
            name: cluster.service.name,
          });
          const endpoints = endpointsOf(key, cluster.service.port);
          return endpoints === undefined ? cluster : { ...cluster, endpoints: [...endpoints] };
        }),
      },
    },
  });
}

export class EndpointSliceSource implements RunningSource {
  readonly #context: KubernetesContext;
  readonly #api: DiscoveryV1Api;
  readonly #services = new Map<string, WatchedService>();
  readonly #dropped: Counter<'kind' | 'reason'>;
  readonly #refused: Counter;
  readonly #count: CountDefect;
  #layerTimer: NodeJS.Immediate | undefined;
  #closed = false;
  readonly #onChange = (): void => {
    this.#follow(this.#context.store.base);
  };

  constructor(context: KubernetesContext) {
    this.#context = context;
    this.#api = context.kube.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.#dropped = droppedCounter(context.metrics);
    this.#count = (reason: SliceDefect) => this.#dropped.inc({ kind: 'EndpointSlice', reason });
    this.#refused = new Counter({
      name: 'streammesh_control_plane_kubernetes_endpoints_refused_total',
      help: 'EndpointSlice endpoint updates the config store refused (the composed config invalid); the last good config stays.',
      registers: [context.metrics],
    });
  }

  start(): void {
    this.#context.store.on('change', this.#onChange);
    this.#follow(this.#context.store.base);
  }

  /** Starts watches for the Services the base names, stops the others. */
  #follow(base: MeshConfig): void {
    if (this.#closed) return;
    const wanted = servicesOf(base, this.#context.kube.namespace);
    for (const [key, watched] of this.#services) {
      if (wanted.has(key)) continue;
      void watched.watch.close();
      this.#services.delete(key);
    }
    for (const [key, service] of wanted) {
      if (!this.#services.has(key)) this.#services.set(key, this.#watch(service));
    }
  }

  #watch(service: ServiceRef): WatchedService {
    const slices = new ServiceSlices(this.#count);
    const labelSelector = `kubernetes.io/service-name=${service.name}`;
    const watched: WatchedService = {
      slices,
      watch: new ListWatch({
        client: collectionWatchClient(
          this.#context.kube.kubeConfig,
          `/apis/discovery.k8s.io/v1/namespaces/${service.namespace}/endpointslices`,
          () =>
            this.#api.listNamespacedEndpointSlice({ namespace: service.namespace, labelSelector }),
          { labelSelector },
        ),
        onList: (items) => {
          slices.list(items);
          this.#scheduleLayer();
        },
        onEvent: (type, object) => {
          slices.event(type, object);
          this.#scheduleLayer();
        },
        log: this.#context.log.child({ service: keyOf(service) }),
      }),
    };
    watched.watch.start();
    return watched;
  }

  /** Events come in bursts (a rollout, the first lists): one layer for each burst. */
  #scheduleLayer(): void {
    if (this.#layerTimer !== undefined || this.#closed) return;
    this.#layerTimer = setImmediate(() => {
      this.#layerTimer = undefined;
      this.#layEndpoints();
    });
  }

  #layEndpoints(): void {
    if (this.#closed) return;
    const snapshot = new Map<string, readonly SliceEndpoints[]>();
    for (const [key, watched] of this.#services) {
      if (watched.slices.listed) snapshot.set(key, watched.slices.values());
    }
    const layer = endpointSlicesLayer(snapshot, this.#context.kube.namespace, this.#count);
    try {
      if (this.#context.store.setLayer(ENDPOINT_SLICES_LAYER, layer, ORIGIN)) {
        this.#context.log.info(
          { version: this.#context.store.current.version },
          'cluster endpoints from EndpointSlices',
        );
      }
    } catch (error) {
      this.#refused.inc();
      this.#context.log.error(
        { reason: errorMessage(error) },
        'EndpointSlice endpoints refused; last good config kept',
      );
    }
  }

  /** Resolves once the Services watched now were listed and laid (bounded: initial-lists.ts). */
  async initialLists(): Promise<void> {
    const lists = [...this.#services.values()].map((watched) => watched.watch.firstList);
    if (lists.length === 0) return;
    await initialLists(lists, {
      source: 'endpoint_slices',
      metrics: this.#context.metrics,
      log: this.#context.log,
    });
    // Laid now, not on the next turn: the config served from here on holds them.
    if (this.#layerTimer !== undefined) clearImmediate(this.#layerTimer);
    this.#layerTimer = undefined;
    this.#layEndpoints();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#context.store.off('change', this.#onChange);
    if (this.#layerTimer !== undefined) clearImmediate(this.#layerTimer);
    const watches = [...this.#services.values()].map(async (watched) => watched.watch.close());
    this.#services.clear();
    await Promise.all(watches);
  }
}

export const startEndpointSliceSource: SourceStarter = async (context) => {
  const source = new EndpointSliceSource(context);
  source.start();
  await source.initialLists();
  return source;
};
