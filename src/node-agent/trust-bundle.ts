/**
 * The TRUST_BUNDLE resource a node holds (src/config/trust-bundle-resource.ts):
 * the mesh CA's roots, pushed when the CA rotates or retires one. Staged
 * with the rest of an update like PLACEMENT and MEDIA_KEY: a body that does
 * not fit the schema, whose certificates do not parse, or that lacks the
 * root of this node's own certificate refuses the update (NACK naming it,
 * counted by reason); the node keeps the bundle it had. On commit the PEM
 * goes to the workload identity (updateTrustBundle), whose 'renewed' event
 * the node's TLS ends follow. The token-issuer leaves the bundle names go to
 * the node's edges (tokenIssuers()), which then verify compact edge tokens.
 * The revoked serials go to the identity with the PEM, and from it to every
 * TLS end of the node (WorkloadCertificates.revokedSerials).
 *
 * A node without a workload identity (controlPlane.mtls off) refuses the
 * resource: it has no certificate to trust roots for.
 */
import { Counter, type Registry } from 'prom-client';
import { errorMessage } from '../shared/errors.js';
import {
  parseTrustBundleBody,
  TRUST_BUNDLE,
  TRUST_BUNDLE_NAME,
  type ResourceIssue,
  type TrustBundleBody,
} from '../config/index.js';
import type { ResourceUpdate, WireResource } from '../protocol/mesh/index.js';
import type { RevokedIdentity } from '../shared/identity/index.js';
import type { TrustBundleRefusal } from './identity/index.js';

/** What a bundle is handed to: the node's WorkloadIdentity. */
export interface TrustBundleHolder {
  trustBundleRefusal(pem: string): TrustBundleRefusal | undefined;
  updateTrustBundle(
    pem: string,
    revokedSerials?: readonly string[],
    revokedIdentities?: readonly RevokedIdentity[],
  ): void;
}

export interface TrustBundleOptions {
  /** The node's workload identity; undefined without controlPlane.mtls. */
  readonly identity?: TrustBundleHolder | undefined;
  readonly metrics?: Registry;
}

/** Why a bundle was refused: the `reason` label of streammesh_node_trust_bundles_refused_total. */
type Refusal = 'invalid_body' | 'untrusted_self' | 'no_identity';

export interface StagedTrustBundle {
  /** The bundle's PEM to hand over at commit, if the update brings one. */
  readonly next: string | undefined;
  /** The token issuers' leaves (PEM) it names, if any. */
  readonly tokenIssuers: string | undefined;
  /** The serials it revokes, and the identities it revokes up to a time. */
  readonly revoked: readonly string[];
  readonly revokedIdentities: readonly RevokedIdentity[];
  readonly issues: readonly ResourceIssue[];
}

export class TrustBundle {
  readonly #identity: TrustBundleHolder | undefined;
  readonly #refused: Counter | undefined;
  #tokenIssuers: string | undefined;

  constructor(options: TrustBundleOptions = {}) {
    this.#identity = options.identity;
    if (options.metrics !== undefined) {
      this.#refused = new Counter({
        name: 'streammesh_node_trust_bundles_refused_total',
        help:
          'TRUST_BUNDLE resources refused (NACK), by reason: invalid_body (schema or certificates), ' +
          "untrusted_self (lacks the root of the node's own certificate), no_identity (no mTLS).",
        labelNames: ['reason'],
        registers: [options.metrics],
      });
    }
  }

  stage(update: ResourceUpdate): StagedTrustBundle {
    let next: StagedTrustBundle['next'];
    let tokenIssuers: StagedTrustBundle['tokenIssuers'];
    let revoked: StagedTrustBundle['revoked'] = [];
    let revokedIdentities: StagedTrustBundle['revokedIdentities'] = [];
    const issues: ResourceIssue[] = [];
    for (const wire of update.resources) {
      if (wire.type !== TRUST_BUNDLE) continue;
      const read = this.#read(wire);
      if (typeof read !== 'string') {
        next = read.pem;
        tokenIssuers = read.tokenIssuers;
        revoked = read.revoked ?? [];
        revokedIdentities = read.revokedIdentities ?? [];
        continue;
      }
      issues.push({ type: TRUST_BUNDLE, name: wire.name, reason: read });
    }
    return { next, tokenIssuers, revoked, revokedIdentities, issues };
  }

  /** The token-issuer leaves (PEM) of the bundle in force; undefined when it names none. */
  tokenIssuers(): string | undefined {
    return this.#tokenIssuers;
  }

  /**
   * Hands the staged bundle to the identity. Checked at stage; only a
   * renewal landing between stage and commit (a certificate of a root the
   * bundle lacks) can refuse it now: the identity keeps its bundle, the
   * refusal is counted, and a commit never throws.
   */
  commit(staged: StagedTrustBundle): void {
    if (staged.next === undefined) return;
    this.#tokenIssuers = staged.tokenIssuers;
    try {
      this.#identity?.updateTrustBundle(staged.next, staged.revoked, staged.revokedIdentities);
    } catch {
      this.#refused?.inc({ reason: 'untrusted_self' });
    }
  }

  refs(update: ResourceUpdate): { type: typeof TRUST_BUNDLE; name: string; version: string }[] {
    return update.resources
      .filter((wire) => wire.type === TRUST_BUNDLE)
      .map(({ name, version }) => ({ type: TRUST_BUNDLE, name, version }));
  }

  /** The bundle's PEM, or why it is refused (counted). */
  #read(wire: WireResource): TrustBundleBody | string {
    const refuse = (refusal: Refusal, reason: string): string => {
      this.#refused?.inc({ reason: refusal });
      return reason;
    };
    if (this.#identity === undefined) {
      return refuse('no_identity', 'this node has no workload identity (controlPlane.mtls off)');
    }
    if (wire.name !== TRUST_BUNDLE_NAME) {
      return refuse('invalid_body', `the trust bundle's name must be ${TRUST_BUNDLE_NAME}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(wire.bodyJson);
    } catch (error) {
      return refuse('invalid_body', `body is not JSON: ${errorMessage(error)}`);
    }
    const body = parseTrustBundleBody(json);
    if (typeof body === 'string') return refuse('invalid_body', body);
    const refusal = this.#identity.trustBundleRefusal(body.pem);
    if (refusal === undefined) return body;
    return refuse(refusal.kind === 'invalid' ? 'invalid_body' : 'untrusted_self', refusal.message);
  }
}
