/**
 * What a node holds of the mesh beside its config: PLACEMENT resources
 * (which node carries each media session, placements.ts) and MEDIA_KEY
 * resources (its proxy-to-proxy hops and their keys, hops.ts), and the
 * TRUST_BUNDLE resource (the mesh CA's roots, trust-bundle.ts). NodeConfig
 * stages them with every update and commits them with it; 'change' is
 * emitted after a commit that changed placements or hops, for the services
 * that follow them (the proxy's camera mesh); the bundle goes to the
 * workload identity, whose 'renewed' the TLS ends follow.
 */
import { EventEmitter } from 'node:events';
import {
  MEDIA_KEY,
  PLACEMENT,
  TRUST_BUNDLE,
  type PushedResourceRef,
  type ResourceIssue,
} from '../config/index.js';
import {
  MAX_HELLO_PLACEMENT_BYTES,
  type ResourceUpdate,
  type WireResource,
} from '../protocol/mesh/index.js';
import { Hops, type HopsOptions, type StagedHops } from './hops.js';
import { Placements, type StagedPlacements } from './placements.js';
import { TrustBundle, type StagedTrustBundle, type TrustBundleOptions } from './trust-bundle.js';

export const meshStateTypes: ReadonlySet<string> = new Set([PLACEMENT, MEDIA_KEY, TRUST_BUNDLE]);

export interface StagedMeshState {
  readonly placements: StagedPlacements;
  readonly hops: StagedHops;
  readonly trustBundle: StagedTrustBundle;
  readonly issues: readonly ResourceIssue[];
}

export class MeshState extends EventEmitter<{ change: [] }> {
  readonly placements: Placements;
  readonly hops: Hops;
  readonly trustBundle: TrustBundle;

  /**
   * `hops`: what binds hop keys to this node's identity, and where refusals
   * are counted; `trustBundle`: the identity pushed bundles go to.
   */
  constructor(nodeId: string, hops: HopsOptions = {}, trustBundle: TrustBundleOptions = {}) {
    super();
    this.placements = new Placements(nodeId);
    this.hops = new Hops(nodeId, hops);
    this.trustBundle = new TrustBundle(trustBundle);
  }

  stage(update: ResourceUpdate): StagedMeshState {
    const placements = this.placements.stage(update);
    const hops = this.hops.stage(update);
    const trustBundle = this.trustBundle.stage(update);
    return {
      placements,
      hops,
      trustBundle,
      issues: [...placements.issues, ...hops.issues, ...trustBundle.issues],
    };
  }

  commit(staged: StagedMeshState): void {
    const changed = this.placements.changes(staged.placements) || this.hops.changes(staged.hops);
    this.placements.commit(staged.placements);
    this.hops.commit(staged.hops);
    this.trustBundle.commit(staged.trustBundle);
    if (changed) this.emit('change');
  }

  refs(update: ResourceUpdate): PushedResourceRef[] {
    return [
      ...this.placements.refs(update),
      ...this.hops.refs(update),
      ...this.trustBundle.refs(update),
    ];
  }

  /**
   * What the Hello returns, within `maxBytes`: its hops first, up to half of
   * it (a hop left out gets new keys, a short loss on a running stream), then
   * placements (this node's first) in the rest. The control plane resends
   * what is left out.
   */
  wire(maxBytes: number = MAX_HELLO_PLACEMENT_BYTES): WireResource[] {
    const hops: WireResource[] = [];
    let bytes = 0;
    for (const hop of this.hops.wire()) {
      bytes += wireBytes(hop);
      if (bytes > maxBytes / 2) break;
      hops.push(hop);
    }
    const used = hops.reduce((sum, hop) => sum + wireBytes(hop), 0);
    return [...hops, ...this.placements.wire(maxBytes - used)];
  }
}

/** A resource's names, version and body, with protobuf framing (as placements.ts counts it). */
function wireBytes(resource: WireResource): number {
  return (
    Buffer.byteLength(resource.name) +
    resource.version.length +
    Buffer.byteLength(resource.bodyJson) +
    16
  );
}
