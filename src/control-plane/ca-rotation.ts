/**
 * CA rotation as the mesh lives it: the trust bundle reaches every node
 * before anything it holds is certified by a root the nodes do not trust
 * yet, and old roots go only once nothing live chains to them.
 *
 * - rotate(): the CA makes a new root its issuer (old ones stay trusted) and
 *   the new bundle is pushed to every node as the TRUST_BUNDLE resource
 *   (this object is the push server's TrustBundleFeed). Once every connected
 *   node has ACKed that bundle, the control plane's own gRPC certificate is
 *   renewed from the new root (nodes verify it with their bundle), and
 *   settledIssuer() moves to it, which the token issuer follows at its next
 *   mint (token-issuer.ts's signingRoot).
 * - Nodes renew on their own schedule (half-life) and get new-root
 *   certificates; view() shows, per node, whether it ACKed the bundle and
 *   which root its last certificate came from (IdentityService.issuedTo()).
 * - retire(): refused while any registered node's live certificate chains
 *   to a root being retired, or while a connected node has none on record
 *   (after a control plane restart: known once it renews); else the CA keeps
 *   only its issuer and the smaller bundle is pushed.
 *
 * Rotations and retirements are counted, refused retirements by reason.
 */
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import { systemClock, type Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { pemCertificateBlocks } from '../shared/identity/index.js';
import {
  TRUST_BUNDLE,
  TRUST_BUNDLE_NAME,
  trustBundleResource,
  type BundleRevocations,
  type PushedResource,
} from '../config/index.js';
import type { MeshCa, Revocations } from './ca/index.js';
import type { OwnCertificate } from './identity/index.js';
import type { NodeRecord, Registry } from './registry/index.js';

/** What IdentityService.issuedTo() says of a node's last certificate. */
export interface IssuedRoot {
  /** SHA-256 fingerprint of the root that signed it. */
  readonly rootFingerprint: string;
  readonly notAfterMs: number;
  readonly serialNumber: string;
}

/** How often a pending rotation looks at the nodes' ACKs. */
const ACK_POLL_MS = 100;

export interface CaRotationOptions {
  readonly ca: MeshCa;
  readonly registry: Registry;
  readonly own: Pick<OwnCertificate, 'renew' | 'current' | 'refreshTrustBundle'>;
  /** The last certificate issued to a node (IdentityService.issuedTo). */
  readonly issuedTo: (id: string) => IssuedRoot | undefined;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly clock?: Clock;
  /** The revocation list: its serials go with the bundle, and a revocation pushes it. */
  readonly revocations?: Pick<Revocations, 'serials' | 'identities' | 'on'>;
}

/** One trusted root as GET /ca shows it. */
export interface RootView {
  readonly fingerprint256: string;
  readonly subject: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Whether it signs new certificates now. */
  readonly issuer: boolean;
}

/** One node as GET /ca shows it. */
export interface NodeCaView {
  readonly id: string;
  readonly role: NodeRecord['role'];
  readonly state: string;
  readonly spiffeId: string | null;
  /** Whether the node ACKed the bundle trusted now. */
  readonly bundleAcked: boolean;
  /** The last certificate issued to it here, null when none is on record. */
  readonly certificate: {
    readonly rootFingerprint256: string;
    readonly notAfter: string;
    /** What POST /certificates/<serial>/revoke takes. */
    readonly serialNumber: string;
    /** Whether the issuing root signed it. */
    readonly fromIssuer: boolean;
  } | null;
}

export interface CaView {
  readonly bundleVersion: string;
  readonly roots: readonly RootView[];
  /** The root of the control plane's own gRPC certificate. */
  readonly controlPlaneRoot: string | null;
  /**
   * A rotation whose bundle not every connected node has ACKed yet, or
   * whose control plane certificate, renewed after the ACKs, is not yet in
   * place (controlPlaneRoot is the new root once this is false).
   */
  readonly rotationPending: boolean;
  /** Whether every connected node ACKed the bundle and holds a live certificate from the issuer. */
  readonly everyNodeOnIssuer: boolean;
  readonly nodes: readonly NodeCaView[];
}

/** Why old roots cannot be retired now: each node still holding one (or unknown). */
export interface RetireBlocker {
  readonly node: string;
  readonly reason: 'old_root' | 'unknown_certificate' | 'bundle_not_acked' | 'control_plane';
}

export class CaRotation extends EventEmitter<{ change: [] }> {
  readonly #options: CaRotationOptions;
  readonly #clock: Clock;
  readonly #rotations: Counter;
  readonly #retirements: Counter;
  readonly #refusedRetirements: Counter;
  #resource: PushedResource;
  /** The token issuer's signing leaves (PEM), sent with the bundle (compact edge tokens). */
  #tokenIssuers: string | undefined;
  /** The issuer (PEM) every connected node trusted last time all had ACKed. */
  #settledIssuer: string;
  #pending: NodeJS.Timeout | undefined;
  /** The control plane's own renewal after every ACK, while it runs. */
  #ownRenewal: Promise<void> | undefined;
  /** A rotate() under way: a second one waits for none, it is refused (the CA writes files). */
  #rotating = false;
  #closed = false;

  constructor(options: CaRotationOptions) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#resource = trustBundleResource(
      options.ca.trustBundle(),
      undefined,
      bundleRevocations(options.revocations),
    );
    this.#settledIssuer = options.ca.issuerCertificate();
    options.revocations?.on('change', () => {
      this.#bundleChanged();
    });
    const registers = [options.metrics];
    this.#rotations = new Counter({
      name: 'streammesh_control_plane_ca_rotations_total',
      help: 'CA rotations (a new root made the issuer and its bundle pushed).',
      registers,
    });
    this.#retirements = new Counter({
      name: 'streammesh_control_plane_ca_retirements_total',
      help: 'Retirements of old CA roots (the bundle cut to the issuer and pushed).',
      registers,
    });
    this.#refusedRetirements = new Counter({
      name: 'streammesh_control_plane_ca_retirements_refused_total',
      help: 'Retirements refused, by reason (nodes_on_old_roots, nothing_to_retire, not_rotatable).',
      labelNames: ['reason'],
      registers,
    });
  }

  /** The issuing root (PEM) once every connected node ACKed a bundle that holds it. */
  settledIssuer(): string {
    return this.#settledIssuer;
  }

  /** The TRUST_BUNDLE resource every node should hold now. */
  resource(): PushedResource {
    return this.#resource;
  }

  /**
   * A new issuing root, its bundle pushed; the control plane's certificate
   * follows the ACKs. False when a rotation is under way already; throws
   * CaError ERR_CA_STATE for an operator's root (from files).
   */
  async rotate(): Promise<boolean> {
    if (this.#rotating) return false;
    this.#rotating = true;
    try {
      await this.#options.ca.rotate();
    } finally {
      this.#rotating = false;
    }
    this.#rotations.inc();
    // The control plane's own listeners trust the new root at once.
    this.#options.own.refreshTrustBundle();
    this.#bundleChanged();
    this.#options.log.info(
      { bundleVersion: this.#resource.version },
      'CA rotated: new issuing root, bundle pushed',
    );
    this.#awaitAcks();
    return true;
  }

  /**
   * Who still keeps the old roots from being retired; empty when they may
   * go (or when there is nothing to retire: see retire()).
   */
  retireBlockers(): RetireBlocker[] {
    const now = this.#clock.now();
    const issuer = this.#issuerFingerprint();
    const blockers: RetireBlocker[] = [];
    // The control plane's own certificate too: retired under it, nodes could
    // no longer verify the control plane (its renewal waits for every ACK).
    const own = this.#options.own.current();
    if (own !== undefined && fingerprintOf(own.chainPem) !== issuer) {
      blockers.push({ node: 'control-plane', reason: 'control_plane' });
    }
    for (const record of this.#options.registry.records()) {
      if (record.spiffeId === null) continue;
      const connected = record.streamOpen;
      const issued = this.#options.issuedTo(record.id);
      if (issued === undefined) {
        if (connected) blockers.push({ node: record.id, reason: 'unknown_certificate' });
        continue;
      }
      if (issued.notAfterMs > now && issued.rootFingerprint !== issuer) {
        blockers.push({ node: record.id, reason: 'old_root' });
      } else if (connected && !this.#acked(record)) {
        blockers.push({ node: record.id, reason: 'bundle_not_acked' });
      }
    }
    return blockers;
  }

  /**
   * Drops every root but the issuer and pushes the bundle; the blockers
   * instead when a node still needs an old root. Throws CaError
   * ERR_CA_STATE for an operator's root (from files).
   */
  retire(): { retired: number } | { blockers: RetireBlocker[] } {
    const blockers = this.retireBlockers();
    if (blockers.length > 0) {
      this.#refusedRetirements.inc({ reason: 'nodes_on_old_roots' });
      return { blockers };
    }
    const before = this.#roots().length;
    if (before <= 1) {
      this.#refusedRetirements.inc({ reason: 'nothing_to_retire' });
      return { retired: 0 };
    }
    try {
      this.#options.ca.retire();
    } catch (error) {
      this.#refusedRetirements.inc({ reason: 'not_rotatable' });
      throw error;
    }
    this.#retirements.inc();
    // The control plane's own listeners stop trusting the retired roots now,
    // not at their next renewal.
    this.#options.own.refreshTrustBundle();
    this.#bundleChanged();
    this.#options.log.info(
      { retired: before - 1, bundleVersion: this.#resource.version },
      'CA roots retired, bundle pushed',
    );
    return { retired: before - 1 };
  }

  view(): CaView {
    const issuer = this.#issuerFingerprint();
    const now = this.#clock.now();
    const registry = this.#options.registry;
    const nodes: NodeCaView[] = [];
    for (const record of registry.records()) {
      if (record.spiffeId === null) continue;
      const issued = this.#options.issuedTo(record.id);
      nodes.push({
        id: record.id,
        role: record.role,
        state: registry.stateOf(record),
        spiffeId: record.spiffeId,
        bundleAcked: this.#acked(record),
        certificate:
          issued === undefined
            ? null
            : {
                rootFingerprint256: issued.rootFingerprint,
                notAfter: new Date(issued.notAfterMs).toISOString(),
                serialNumber: issued.serialNumber,
                fromIssuer: issued.rootFingerprint === issuer && issued.notAfterMs > now,
              },
      });
    }
    nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const connected = nodes.filter((node) => node.state === 'connected');
    const own = this.#options.own.current();
    return {
      bundleVersion: this.#resource.version,
      roots: this.#roots().map((root) => ({
        fingerprint256: root.fingerprint256,
        subject: root.subject,
        notBefore: new Date(root.validFrom).toISOString(),
        notAfter: new Date(root.validTo).toISOString(),
        issuer: root.fingerprint256 === issuer,
      })),
      controlPlaneRoot: own === undefined ? null : fingerprintOf(own.chainPem),
      rotationPending: this.#pending !== undefined || this.#ownRenewal !== undefined,
      everyNodeOnIssuer: connected.every(
        (node) => node.bundleAcked && node.certificate?.fromIssuer === true,
      ),
      nodes,
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#pending);
    this.#pending = undefined;
  }

  /** The token issuer's leaves changed: every node is sent them with the bundle. */
  setTokenIssuers(leavesPem: string): void {
    if (leavesPem === this.#tokenIssuers) return;
    this.#tokenIssuers = leavesPem;
    this.#bundleChanged();
  }

  #bundleChanged(): void {
    this.#resource = trustBundleResource(
      this.#options.ca.trustBundle(),
      this.#tokenIssuers,
      bundleRevocations(this.#options.revocations),
    );
    this.emit('change');
  }

  /**
   * Renews the control plane's certificate from the new root once every
   * connected node ACKed the bundle that holds it; looks again every
   * ACK_POLL_MS until then (a node that never ACKs leaves it pending: GET /ca
   * says which; the certificate then moves at its own half-life).
   */
  #awaitAcks(): void {
    clearTimeout(this.#pending);
    const check = (): void => {
      this.#pending = undefined;
      if (this.#closed) return;
      const waiting = [...this.#options.registry.records()].filter(
        (record) => record.streamOpen && record.spiffeId !== null && !this.#acked(record),
      );
      if (waiting.length > 0) {
        this.#pending = setTimeout(check, ACK_POLL_MS);
        this.#pending.unref();
        return;
      }
      this.#settledIssuer = this.#options.ca.issuerCertificate();
      const renewal = this.#options.own
        .renew()
        .then(
          () => this.#options.log.info('control plane certificate renewed from the new root'),
          (error: unknown) =>
            this.#options.log.error(
              { error: errorMessage(error) },
              'control plane certificate could not be renewed after the rotation; it renews at half-life',
            ),
        )
        .finally(() => {
          if (this.#ownRenewal === renewal) this.#ownRenewal = undefined;
        });
      this.#ownRenewal = renewal;
    };
    check();
  }

  #acked(record: NodeRecord): boolean {
    const held = record.resources.heldVersion({ type: TRUST_BUNDLE, name: TRUST_BUNDLE_NAME });
    return held === this.#resource.version;
  }

  #roots(): X509Certificate[] {
    return pemCertificateBlocks(this.#options.ca.trustBundle()).map(
      (pem) => new X509Certificate(pem),
    );
  }

  #issuerFingerprint(): string {
    return new X509Certificate(this.#options.ca.issuerCertificate()).fingerprint256;
  }
}

function fingerprintOf(pem: string): string | null {
  const top = pemCertificateBlocks(pem).at(-1);
  return top === undefined ? null : new X509Certificate(top).fingerprint256;
}

function bundleRevocations(
  revocations: Pick<Revocations, 'serials' | 'identities'> | undefined,
): BundleRevocations | undefined {
  return revocations === undefined
    ? undefined
    : { serials: revocations.serials(), identities: revocations.identities() };
}
