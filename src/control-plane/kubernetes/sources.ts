/**
 * What the control plane reads from the API server with
 * controlPlane.registry: kubernetes — custom resources (Camera,
 * MediaRoute), EndpointSlices of HTTP clusters' Services, the Pods of the
 * proxies and SFU nodes. Each source is started with the same context and
 * feeds the ConfigStore through a layer of its own (or the registry); the
 * file's config stays the base under them.
 *
 * Sources are listed in starters.ts; one that fails to start fails the
 * control plane's start, with the ones already started closed.
 */
import type { Registry as MetricsRegistry } from 'prom-client';
import type { MeshConfig } from '../../config/index.js';
import type { Logger } from '../../shared/log.js';
import type { ConfigStore } from '../config-push/index.js';
import type { Registry } from '../registry/index.js';
import type { KubeClient } from './kube-client.js';

export interface KubernetesContext {
  readonly kube: KubeClient;
  /** The config the control plane started with (settings are read at start). */
  readonly config: MeshConfig;
  readonly store: ConfigStore;
  readonly registry: Registry;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
}

export interface RunningSource {
  close(): Promise<void> | void;
}

export type SourceStarter = (context: KubernetesContext) => Promise<RunningSource>;

export async function startKubernetesSources(
  context: KubernetesContext,
  starters: readonly SourceStarter[],
): Promise<RunningSource> {
  const started: RunningSource[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(started.map(async (source) => source.close()));
  };
  try {
    for (const start of starters) started.push(await start(context));
  } catch (error) {
    await closeAll();
    throw error;
  }
  return { close: closeAll };
}
