/**
 * The sources a control plane with controlPlane.registry: kubernetes
 * starts, in this order (sources.ts).
 */
import { startCustomResources } from './custom-resources/index.js';
import { startEndpointSliceSource, startPodSource } from './discovery/index.js';
import type { SourceStarter } from './sources.js';

export const kubernetesSourceStarters: readonly SourceStarter[] = [
  startCustomResources,
  startEndpointSliceSource,
  startPodSource,
];
