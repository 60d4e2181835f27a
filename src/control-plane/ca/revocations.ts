/**
 * The mesh's revocation list: certificates an operator withdrew before their
 * expiry (a node's key stolen, a decommissioned host, an operator who left).
 * Every mTLS end checks a verified peer against it
 * (src/shared/identity/revoked-serials.ts): the control plane's own ports
 * here, every node's through the TRUST_BUNDLE resource that carries it.
 *
 * - revoke(serial): the serial is listed. The control plane notes what it
 *   issues (noteIssued: owner, node id, expiry, since it started), so for a
 *   certificate it issued the entry also revokes every certificate of the
 *   same SPIFFE ID and node id issued before now: renewals a stolen key may
 *   have made before the operator learned of it, another operator
 *   certificate an operator's own may have minted. The node (or operator)
 *   gets back in only with a certificate issued after the revocation (a
 *   node: a new bootstrap). For a serial it does not know (issued before a
 *   restart) only the serial is listed, for the longest lifetime a leaf gets.
 * - An entry stays until everything it revokes has expired, plus the CA's
 *   backdating (a node whose clock is behind must not take it back early).
 * - The list is written to `revoked.json` in the CA directory (0600, whole
 *   or not at all) and read at start: a restart does not forgive. A
 *   revocation merges what the file holds first (a second control plane on
 *   the directory); that one enforces it from its own next revocation or
 *   restart.
 * - On the kubernetes registry (options.notShared) revoke() refuses: the
 *   list is one replica's (its state directory, an emptyDir in the chart),
 *   so a certificate revoked on one leader would be accepted again by the
 *   next after a failover; a refusal that says what to do instead is
 *   honest, a revocation that silently lapses is not.
 * - At most MAX_REVOKED_SERIALS live entries, MAX_REVOKED_IDENTITIES of
 *   them revoking identities (the bundle's bounds): past them a revocation
 *   is refused rather than an older one forgotten.
 *
 * 'change' is emitted on every revocation; the bundle's owner (ca-rotation.ts)
 * pushes the new list, the gRPC server ends the streams of revoked nodes.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import { z } from 'zod';
import { systemClock, type Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import {
  identityRevokes,
  ISSUE_BACKDATE_MS,
  normalizeSerial,
  type RevokedIdentity,
  type RevokedSerials,
} from '../../shared/identity/index.js';
import { MAX_REVOKED_IDENTITIES, MAX_REVOKED_SERIALS } from '../../config/index.js';
import { CaError } from './errors.js';
import { ensureDirectory, readOptionalFile, replaceFile } from './root-files.js';

export const REVOCATIONS_FILE = 'revoked.json';

/** Issued certificates remembered for revoke() (a node renews twice a lifetime). */
const MAX_REMEMBERED_ISSUES = 20_000;

export interface RevokedEntry {
  /** Upper-case hex, as node:tls shows a peer's serial. */
  readonly serial: string;
  /** When the certificate expires (Unix ms; for an unknown serial, the longest leaf lifetime from revokedAtMs). */
  readonly notAfterMs: number;
  /** Whose certificate it is, when this control plane issued it; null otherwise. */
  readonly spiffeId: string | null;
  /** The node id it names (its CN); null for an unknown serial or a workload that is not a node. */
  readonly nodeId: string | null;
  readonly revokedAtMs: number;
  /**
   * Until when every certificate of spiffeId (and nodeId) issued before
   * revokedAtMs is revoked with it; null when the entry revokes the serial only.
   */
  readonly identityUntilMs: number | null;
}

export type RevokeResult =
  | { readonly ok: true; readonly entry: RevokedEntry; readonly known: boolean }
  | { readonly ok: false; readonly reason: 'not_a_serial' | 'list_full' }
  /** Revocations cannot be made on this control plane; `detail` says why and what to do. */
  | { readonly ok: false; readonly reason: 'not_shared'; readonly detail: string };

/** What noteIssued() remembers of one certificate. */
export interface IssuedRecord {
  readonly spiffeId: string;
  readonly nodeId: string | null;
  readonly notAfterMs: number;
  readonly issuedAtMs: number;
}

const fileSchema = z.strictObject({
  revoked: z
    .array(
      z.strictObject({
        serial: z.string(),
        notAfterMs: z.number().int().nonnegative(),
        spiffeId: z.string().nullable(),
        nodeId: z.string().nullable().default(null),
        revokedAtMs: z.number().int().nonnegative(),
        identityUntilMs: z.number().int().nonnegative().nullable().default(null),
      }),
    )
    // Twice the bound: a file merged from two control planes may hold expired entries too.
    .max(2 * MAX_REVOKED_SERIALS),
});

export interface RevocationsOptions {
  /** The CA directory, where revoked.json is kept. */
  readonly dir: string;
  /** The longest lifetime a workload leaf gets: how long an unknown serial is kept. */
  readonly maxLeafLifetimeMs: number;
  /**
   * Set when the list would not reach the other control plane replicas
   * (the kubernetes registry): why, and what to do instead. revoke() then
   * refuses with it.
   */
  readonly notShared?: string | undefined;
  readonly metrics?: MetricsRegistry;
  readonly clock?: Clock;
}

export class Revocations extends EventEmitter<{ change: [] }> implements RevokedSerials {
  readonly #file: string;
  readonly #clock: Clock;
  readonly #maxLeafLifetimeMs: number;
  readonly #notShared: string | undefined;
  readonly #revoked = new Map<string, RevokedEntry>();
  /** Serial -> whose, and when, for what this control plane issued (oldest first). */
  readonly #issued = new Map<string, IssuedRecord>();
  readonly #revocations: Counter | undefined;

  /** Reads the list kept in `options.dir`; throws CaError ERR_CA_FILE for one that cannot be read. */
  constructor(options: RevocationsOptions) {
    super();
    ensureDirectory(options.dir);
    this.#file = join(options.dir, REVOCATIONS_FILE);
    this.#clock = options.clock ?? systemClock;
    this.#maxLeafLifetimeMs = options.maxLeafLifetimeMs;
    this.#notShared = options.notShared;
    for (const entry of readEntries(this.#file)) this.#revoked.set(entry.serial, entry);
    this.#prune();
    if (this.#revoked.size > MAX_REVOKED_SERIALS) {
      throw new CaError(
        'ERR_CA_FILE',
        `${this.#file}: ${this.#revoked.size} live revocations, more than the ${MAX_REVOKED_SERIALS} a trust bundle carries`,
      );
    }
    if (options.metrics !== undefined) {
      this.#revocations = new Counter({
        name: 'streammesh_control_plane_certificates_revoked_total',
        help: 'Certificates revoked (POST /certificates/<serial>/revoke), by whether this control plane issued them.',
        labelNames: ['known'],
        registers: [options.metrics],
      });
    }
  }

  /** A certificate this control plane issued: revoke() then knows its owner, node and expiry. */
  noteIssued(
    serial: string,
    spiffeId: string,
    notAfterMs: number,
    nodeId: string | null = null,
  ): void {
    const normalized = normalizeSerial(serial);
    if (normalized === undefined) return;
    this.#issued.set(normalized, { spiffeId, nodeId, notAfterMs, issuedAtMs: this.#clock.now() });
    if (this.#issued.size <= MAX_REMEMBERED_ISSUES) return;
    const now = this.#clock.now();
    for (const [key, issued] of this.#issued) {
      if (issued.notAfterMs <= now || this.#issued.size > MAX_REMEMBERED_ISSUES) {
        this.#issued.delete(key);
      } else break;
    }
  }

  /** What this control plane issued under `serial`, if it remembers. */
  issued(serial: string): IssuedRecord | undefined {
    const normalized = normalizeSerial(serial);
    return normalized === undefined ? undefined : this.#issued.get(normalized);
  }

  revoke(serial: string): RevokeResult {
    const normalized = normalizeSerial(serial);
    if (normalized === undefined) return { ok: false, reason: 'not_a_serial' };
    if (this.#notShared !== undefined) {
      return { ok: false, reason: 'not_shared', detail: this.#notShared };
    }
    this.#prune();
    const listed = this.#revoked.get(normalized);
    const issued = this.#issued.get(normalized);
    if (listed !== undefined) {
      return { ok: true, entry: listed, known: issued !== undefined || listed.spiffeId !== null };
    }
    // Another control plane on the same directory may have revoked since
    // this one read the file: its entries are kept, not written over.
    for (const stored of readEntries(this.#file)) {
      if (!this.#revoked.has(stored.serial)) this.#revoked.set(stored.serial, stored);
    }
    this.#prune();
    const entries = [...this.#revoked.values()];
    if (
      entries.length >= MAX_REVOKED_SERIALS ||
      (issued !== undefined &&
        entries.filter((entry) => entry.identityUntilMs !== null).length >= MAX_REVOKED_IDENTITIES)
    ) {
      return { ok: false, reason: 'list_full' };
    }
    const now = this.#clock.now();
    const entry: RevokedEntry = {
      serial: normalized,
      notAfterMs: issued?.notAfterMs ?? now + this.#maxLeafLifetimeMs,
      spiffeId: issued?.spiffeId ?? null,
      nodeId: issued?.nodeId ?? null,
      revokedAtMs: now,
      // Everything of that identity issued before now expires within the longest lifetime it got.
      identityUntilMs: issued === undefined ? null : now + this.#longestLifetime(issued.spiffeId),
    };
    this.#revoked.set(normalized, entry);
    // Written before anyone is told: a revocation the control plane
    // answered 200 for survives its restart.
    try {
      this.#write();
    } catch (error) {
      this.#revoked.delete(normalized);
      throw error;
    }
    this.#revocations?.inc({ known: String(issued !== undefined) });
    this.emit('change');
    return { ok: true, entry, known: issued !== undefined };
  }

  has(serial: string): boolean {
    const normalized = normalizeSerial(serial);
    if (normalized === undefined) return false;
    const entry = this.#revoked.get(normalized);
    return entry !== undefined && keptUntil(entry) > this.#clock.now();
  }

  revokesIssue(spiffeId: string, nodeId: string | undefined, issuedAtMs: number): boolean {
    const now = this.#clock.now();
    for (const entry of this.#revoked.values()) {
      const rule = identityRule(entry);
      if (
        rule !== undefined &&
        keptUntil(entry) > now &&
        identityRevokes(rule, spiffeId, nodeId, issuedAtMs)
      ) {
        return true;
      }
    }
    return false;
  }

  /** The serials revoked now (for the trust bundle). */
  serials(): string[] {
    this.#prune();
    return [...this.#revoked.keys()];
  }

  /** The identities revoked up to a time now (for the trust bundle). */
  identities(): RevokedIdentity[] {
    this.#prune();
    return [...this.#revoked.values()].flatMap((entry) => identityRule(entry) ?? []);
  }

  entries(): RevokedEntry[] {
    this.#prune();
    return [...this.#revoked.values()];
  }

  /** The longest lifetime this control plane gave a certificate of `spiffeId` (at least a leaf's). */
  #longestLifetime(spiffeId: string): number {
    let longest = this.#maxLeafLifetimeMs;
    for (const issued of this.#issued.values()) {
      if (issued.spiffeId === spiffeId) {
        longest = Math.max(longest, issued.notAfterMs - issued.issuedAtMs);
      }
    }
    return longest;
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [serial, entry] of this.#revoked) {
      if (keptUntil(entry) <= now) this.#revoked.delete(serial);
    }
  }

  #write(): void {
    const text = JSON.stringify({ revoked: [...this.#revoked.values()] }, null, 2);
    replaceFile(this.#file, `${text}\n`, 0o600);
  }
}

/** Until when an entry is listed: what it revokes has expired, on every node's clock. */
function keptUntil(entry: RevokedEntry): number {
  return Math.max(entry.notAfterMs, entry.identityUntilMs ?? 0) + ISSUE_BACKDATE_MS;
}

function identityRule(entry: RevokedEntry): RevokedIdentity | undefined {
  if (entry.identityUntilMs === null || entry.spiffeId === null) return undefined;
  return { spiffeId: entry.spiffeId, nodeId: entry.nodeId, issuedBeforeMs: entry.revokedAtMs };
}

function readEntries(file: string): RevokedEntry[] {
  let text: string | undefined;
  try {
    text = readOptionalFile(file);
  } catch (error) {
    throw new CaError('ERR_CA_FILE', `${file}: cannot be read (${errorMessage(error)})`, error);
  }
  if (text === undefined) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CaError('ERR_CA_FILE', `${file}: not JSON`, error);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    throw new CaError(
      'ERR_CA_FILE',
      `${file}: not a revocation list (${parsed.error.issues[0]?.message ?? 'invalid'})`,
    );
  }
  const entries: RevokedEntry[] = [];
  for (const entry of parsed.data.revoked) {
    const serial = normalizeSerial(entry.serial);
    if (serial === undefined) {
      throw new CaError(
        'ERR_CA_FILE',
        `${file}: ${JSON.stringify(entry.serial.slice(0, 60))} is not a serial`,
      );
    }
    entries.push({ ...entry, serial });
  }
  return entries;
}
