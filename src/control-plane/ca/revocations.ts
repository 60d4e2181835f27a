/**
 * The mesh's revocation list: certificates an operator withdrew before their
 * expiry (a node's key stolen, a decommissioned host, an operator who left),
 * by serial number. Every mTLS end checks a verified peer against it
 * (src/shared/identity/revoked-serials.ts): the control plane's own ports
 * here, every node's through the TRUST_BUNDLE resource that carries it.
 *
 * - revoke(serial): the serial is listed until its certificate's notAfter.
 *   The control plane remembers what it issued since it started
 *   (noteIssued), so it knows that date and whose certificate it is; for a
 *   serial it does not know (issued before a restart) it keeps the entry for
 *   the longest lifetime a leaf gets (ca.leafLifetimeSec), which outlasts it.
 * - The list is written to `revoked.json` in the CA directory (0600, whole
 *   or not at all) and read at start: a restart does not forgive. A
 *   revocation merges what the file holds first (a second control plane on
 *   the directory); that one enforces it from its own next revocation or restart.
 * - Expired entries are dropped whenever the list is read or changed; at
 *   most MAX_REVOKED_SERIALS live ones (the bundle's bound), past which a
 *   revocation is refused rather than an older one forgotten.
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
import { normalizeSerial, type RevokedSerials } from '../../shared/identity/index.js';
import { MAX_REVOKED_SERIALS } from '../../config/index.js';
import { CaError } from './errors.js';
import { ensureDirectory, readOptionalFile, replaceFile } from './root-files.js';

export const REVOCATIONS_FILE = 'revoked.json';

/** Issued certificates remembered for revoke() (a node renews twice a lifetime). */
const MAX_REMEMBERED_ISSUES = 20_000;

export interface RevokedEntry {
  /** Upper-case hex, as node:tls shows a peer's serial. */
  readonly serial: string;
  /** When it leaves the list: its certificate's notAfter (Unix ms). */
  readonly notAfterMs: number;
  /** Whose certificate it is, when this control plane issued it; null otherwise. */
  readonly spiffeId: string | null;
  readonly revokedAtMs: number;
}

export type RevokeResult =
  | { readonly ok: true; readonly entry: RevokedEntry; readonly known: boolean }
  | { readonly ok: false; readonly reason: 'not_a_serial' | 'list_full' };

const fileSchema = z.strictObject({
  revoked: z.array(
    z.strictObject({
      serial: z.string(),
      notAfterMs: z.number().int().nonnegative(),
      spiffeId: z.string().nullable(),
      revokedAtMs: z.number().int().nonnegative(),
    }),
  ),
});

export interface RevocationsOptions {
  /** The CA directory, where revoked.json is kept. */
  readonly dir: string;
  /** The longest lifetime a leaf gets: how long an unknown serial is kept. */
  readonly maxLeafLifetimeMs: number;
  readonly metrics?: MetricsRegistry;
  readonly clock?: Clock;
}

export class Revocations extends EventEmitter<{ change: [] }> implements RevokedSerials {
  readonly #file: string;
  readonly #clock: Clock;
  readonly #maxLeafLifetimeMs: number;
  readonly #revoked = new Map<string, RevokedEntry>();
  /** Serial -> whose and until when, for what this control plane issued (oldest first). */
  readonly #issued = new Map<string, { spiffeId: string; notAfterMs: number }>();
  readonly #revocations: Counter | undefined;

  /** Reads the list kept in `options.dir`; throws CaError ERR_CA_FILE for one that cannot be read. */
  constructor(options: RevocationsOptions) {
    super();
    ensureDirectory(options.dir);
    this.#file = join(options.dir, REVOCATIONS_FILE);
    this.#clock = options.clock ?? systemClock;
    this.#maxLeafLifetimeMs = options.maxLeafLifetimeMs;
    for (const entry of readEntries(this.#file)) this.#revoked.set(entry.serial, entry);
    if (options.metrics !== undefined) {
      this.#revocations = new Counter({
        name: 'streammesh_control_plane_certificates_revoked_total',
        help: 'Certificates revoked (POST /certificates/<serial>/revoke), by whether this control plane issued them.',
        labelNames: ['known'],
        registers: [options.metrics],
      });
    }
  }

  /** A certificate this control plane issued: revoke() then knows its expiry and owner. */
  noteIssued(serial: string, spiffeId: string, notAfterMs: number): void {
    const normalized = normalizeSerial(serial);
    if (normalized === undefined) return;
    this.#issued.set(normalized, { spiffeId, notAfterMs });
    if (this.#issued.size <= MAX_REMEMBERED_ISSUES) return;
    const now = this.#clock.now();
    for (const [key, issued] of this.#issued) {
      if (issued.notAfterMs <= now || this.#issued.size > MAX_REMEMBERED_ISSUES) {
        this.#issued.delete(key);
      } else break;
    }
  }

  revoke(serial: string): RevokeResult {
    const normalized = normalizeSerial(serial);
    if (normalized === undefined) return { ok: false, reason: 'not_a_serial' };
    this.#prune();
    const listed = this.#revoked.get(normalized);
    const issued = this.#issued.get(normalized);
    if (listed !== undefined) {
      return { ok: true, entry: listed, known: issued !== undefined || listed.spiffeId !== null };
    }
    if (this.#revoked.size >= MAX_REVOKED_SERIALS) return { ok: false, reason: 'list_full' };
    const now = this.#clock.now();
    const entry: RevokedEntry = {
      serial: normalized,
      notAfterMs: issued?.notAfterMs ?? now + this.#maxLeafLifetimeMs,
      spiffeId: issued?.spiffeId ?? null,
      revokedAtMs: now,
    };
    // Another control plane on the same directory may have revoked since
    // this one read the file: its entries are kept, not written over.
    for (const stored of readEntries(this.#file)) {
      if (!this.#revoked.has(stored.serial)) this.#revoked.set(stored.serial, stored);
    }
    this.#prune();
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
    return entry !== undefined && entry.notAfterMs > this.#clock.now();
  }

  /** The serials revoked now (for the trust bundle). */
  serials(): string[] {
    this.#prune();
    return [...this.#revoked.keys()];
  }

  entries(): RevokedEntry[] {
    this.#prune();
    return [...this.#revoked.values()];
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [serial, entry] of this.#revoked) {
      if (entry.notAfterMs <= now) this.#revoked.delete(serial);
    }
  }

  #write(): void {
    const text = JSON.stringify({ revoked: [...this.#revoked.values()] }, null, 2);
    replaceFile(this.#file, `${text}\n`, 0o600);
  }
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
