/**
 * Applying a config to a node is one transaction over its services (relay,
 * RTSP, L7, SFU): every service prepares the candidate, doing all that can
 * fail (binding sockets, building routes and clusters) without touching what
 * serves traffic; only when all have prepared does each commit. If any
 * prepare fails, the ones already prepared abort in reverse order and the
 * node runs exactly its previous config (the NACK promise).
 *
 * commit() must not fail: whatever could fail belongs in prepare(). A commit
 * that throws anyway is a bug; it is reported as such, after the remaining
 * commits have run, so no service is left between two configs.
 */
import type { MeshConfig, ResourceType } from '../config/index.js';
import { StreammeshError, errorMessage } from '../shared/errors.js';

/** What one service made ready for a candidate config. */
export interface PreparedChange {
  /** Puts the prepared state in force. Synchronous, and does nothing that can fail. */
  commit(): void;
  /** Releases what prepare() took; the service keeps its current config. */
  abort(): Promise<void>;
}

/** One service of a node that takes part in every config change. */
export interface ConfigParticipant {
  /** Names the service in errors and logs: "relay", "rtsp", "l7", "sfu". */
  readonly name: string;
  /**
   * The resource types this service puts in force. A refusal that names no
   * resource (see below) is traced to the update's resources of these types;
   * a participant that declares none is traced to the whole update.
   */
  readonly resourceTypes?: readonly ResourceType[];
  /**
   * Throws to refuse the candidate; must then hold nothing of it. An error
   * that knows which resources it refuses implements ResourceRefusal
   * (src/config/resources.ts), on itself or on an error of its `cause` chain:
   *
   *   readonly resources: readonly { readonly type: ResourceType; readonly name: string }[];
   *
   * and the node NACKs exactly those.
   */
  prepare(candidate: MeshConfig): Promise<PreparedChange>;
}

/** A participant refused the candidate; the node's previous config stays in force. */
export class ConfigRefusedError extends StreammeshError {
  readonly participant: string;
  constructor(participant: string, cause: unknown) {
    super('ERR_CONFIG_REFUSED', `${participant}: ${errorMessage(cause)}`, { cause });
    this.participant = participant;
  }
}

/** A participant's commit threw: a bug, since commits must not fail. */
export class CommitFailedError extends StreammeshError {
  constructor(participants: readonly string[], causes: readonly unknown[]) {
    super(
      'ERR_CONFIG_COMMIT_FAILED',
      `commit failed in ${participants.join(', ')}: ${causes.map(errorMessage).join('; ')}`,
    );
  }
}

/**
 * Prepares `candidate` in every participant, in order, then commits all; or
 * aborts every prepared one (last first) and throws ConfigRefusedError.
 */
export async function applyConfigTransaction(
  participants: readonly ConfigParticipant[],
  candidate: MeshConfig,
): Promise<void> {
  const prepared: { readonly name: string; readonly change: PreparedChange }[] = [];
  for (const participant of participants) {
    try {
      prepared.push({ name: participant.name, change: await participant.prepare(candidate) });
    } catch (error) {
      for (const { change } of prepared.reverse()) {
        // An abort only frees what prepare took; one that fails must not keep
        // the others from freeing theirs, nor hide the refusal.
        await change.abort().catch(() => undefined);
      }
      throw new ConfigRefusedError(participant.name, error);
    }
  }
  const failed: string[] = [];
  const causes: unknown[] = [];
  for (const { name, change } of prepared) {
    try {
      change.commit();
    } catch (error) {
      failed.push(name);
      causes.push(error);
    }
  }
  if (failed.length > 0) throw new CommitFailedError(failed, causes);
}
