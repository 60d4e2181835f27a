/**
 * What a node holds of the mesh beside its config: PLACEMENT resources
 * (which node carries each media session or SFU room, placements.ts),
 * MEDIA_KEY resources (a proxy's proxy-to-proxy hops and their keys,
 * hops.ts), the TRUST_BUNDLE resource (the mesh CA's roots,
 * trust-bundle.ts), and a signaling node's SIGNALING_NODE resources (its
 * peers, signaling-nodes.ts) and PIPE resources (its rooms' cascade pipes
 * and their keys, pipes.ts). NodeConfig stages them with every update and
 * commits them with it: one refused body refuses the whole update. 'change'
 * is emitted after a commit that changed placements or hops, for the
 * services that follow them (the proxy's camera mesh, a signaling node's
 * room homes); pipes and signaling nodes tell their own listeners; the
 * bundle goes to the workload identity, whose 'renewed' the TLS ends follow.
 */
import { EventEmitter } from 'node:events';
import {
  MEDIA_KEY,
  PIPE,
  PLACEMENT,
  SIGNALING_NODE,
  TRUST_BUNDLE,
  type PushedResourceRef,
  type ResourceIssue,
} from '../config/index.js';
import {
  MAX_HELLO_PLACEMENT_BYTES,
  type ResourceUpdate,
  type WireResource,
} from '../protocol/mesh/index.js';
import type { Logger } from '../shared/log.js';
import { Hops, type HopsOptions, type StagedHops } from './hops.js';
import { Pipes, type StagedPipes } from './pipes.js';
import { Placements, type StagedPlacements } from './placements.js';
import { SignalingNodes, type StagedSignalingNodes } from './signaling-nodes.js';
import { TrustBundle, type StagedTrustBundle, type TrustBundleOptions } from './trust-bundle.js';

export const meshStateTypes: ReadonlySet<string> = new Set([
  PLACEMENT,
  MEDIA_KEY,
  TRUST_BUNDLE,
  SIGNALING_NODE,
  PIPE,
]);

/**
 * What binds hop and pipe keys to this node's identity (ownIdentity), where
 * their refusals are counted (metrics), and where a listener's exception is
 * reported (log).
 */
export interface MeshStateOptions extends HopsOptions {
  readonly log?: Logger;
}

export interface StagedMeshState {
  readonly placements: StagedPlacements;
  readonly hops: StagedHops;
  readonly trustBundle: StagedTrustBundle;
  readonly signalingNodes: StagedSignalingNodes;
  readonly pipes: StagedPipes;
  readonly issues: readonly ResourceIssue[];
}

export class MeshState extends EventEmitter<{ change: [] }> {
  readonly placements: Placements;
  readonly hops: Hops;
  readonly trustBundle: TrustBundle;
  readonly signalingNodes: SignalingNodes;
  readonly pipes: Pipes;

  /**
   * `options`: what binds hop and pipe keys to this node's identity, where
   * refusals are counted; `trustBundle`: the identity pushed bundles go to.
   */
  constructor(
    nodeId: string,
    options: MeshStateOptions = {},
    trustBundle: TrustBundleOptions = {},
  ) {
    super();
    const { log, ...hops } = options;
    this.placements = new Placements(nodeId);
    this.hops = new Hops(nodeId, hops);
    this.trustBundle = new TrustBundle(trustBundle);
    this.signalingNodes = new SignalingNodes(log === undefined ? {} : { log });
    this.pipes = new Pipes(nodeId, log === undefined ? hops : { ...hops, log });
  }

  stage(update: ResourceUpdate): StagedMeshState {
    const placements = this.placements.stage(update);
    const hops = this.hops.stage(update);
    const trustBundle = this.trustBundle.stage(update);
    const signalingNodes = this.signalingNodes.stage(update);
    const pipes = this.pipes.stage(update);
    return {
      placements,
      hops,
      trustBundle,
      signalingNodes,
      pipes,
      issues: [
        ...placements.issues,
        ...hops.issues,
        ...trustBundle.issues,
        ...signalingNodes.issues,
        ...pipes.issues,
      ],
    };
  }

  /**
   * Puts the staged sets in force. Peers come before pipes, and both before
   * 'change': a listener of pipes finds the peer nodes they name, and a
   * listener of room placements finds the pipes and peers of the same update.
   */
  commit(staged: StagedMeshState): void {
    const changed = this.placements.changes(staged.placements) || this.hops.changes(staged.hops);
    this.placements.commit(staged.placements);
    this.hops.commit(staged.hops);
    this.trustBundle.commit(staged.trustBundle);
    this.signalingNodes.commit(staged.signalingNodes);
    this.pipes.commit(staged.pipes);
    if (changed) this.emit('change');
  }

  refs(update: ResourceUpdate): PushedResourceRef[] {
    return [
      ...this.placements.refs(update),
      ...this.hops.refs(update),
      ...this.trustBundle.refs(update),
      ...this.signalingNodes.refs(update),
      ...this.pipes.refs(update),
    ];
  }

  /**
   * What the Hello returns, within `maxBytes`: its hops and pipes first, up
   * to half of it (one left out gets new keys: a short loss on a running
   * stream, a new transport pair for a pipe), then placements (this node's
   * first) in the rest. The control plane resends what is left out.
   * Signaling nodes are not returned: the control plane's registry has them.
   */
  wire(maxBytes: number = MAX_HELLO_PLACEMENT_BYTES): WireResource[] {
    const keyed: WireResource[] = [];
    let bytes = 0;
    for (const resource of [...this.hops.wire(), ...this.pipes.wire()]) {
      bytes += wireBytes(resource);
      if (bytes > maxBytes / 2) break;
      keyed.push(resource);
    }
    const used = keyed.reduce((sum, resource) => sum + wireBytes(resource), 0);
    return [...keyed, ...this.placements.wire(maxBytes - used)];
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
