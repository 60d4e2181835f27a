/**
 * The bookkeeping every config participant needs around its prepare():
 * one prepared change at a time, no prepare after close(), and a change
 * prepared around a close() released rather than put in force (its sockets
 * would outlive the service). A participant only says how to stage a
 * candidate: what commit puts in force, and what release frees.
 */
import type { PreparedChange } from './config-transaction.js';

/** What a participant made ready: commit puts it in force, release frees it. */
export interface StagedChange {
  /** Synchronous and cannot fail (see PreparedChange.commit). */
  commit(): void;
  release(): Promise<void>;
}

export interface PrepareGateOptions {
  /** Names the participant in the refusal of an overlapping prepare. */
  readonly name: string;
  /** The error of a prepare after close() (each participant has its own code). */
  readonly closedError: () => Error;
  /** A release that fails after a commit found the participant closed; logged, never thrown. */
  readonly onReleaseError: (error: unknown) => void;
}

export class PrepareGate {
  readonly #options: PrepareGateOptions;
  #pending = false;
  #closed = false;

  constructor(options: PrepareGateOptions) {
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** From now on prepare() is refused, and a change prepared before is released at commit. */
  close(): void {
    this.#closed = true;
  }

  async prepare(stage: () => Promise<StagedChange>): Promise<PreparedChange> {
    if (this.#closed) throw this.#options.closedError();
    if (this.#pending) {
      throw new Error(`${this.#options.name}: a prepared config is neither committed nor aborted`);
    }
    // Set before the first await, so two prepares started together cannot both pass.
    this.#pending = true;
    let staged: StagedChange;
    try {
      staged = await stage();
    } catch (error) {
      this.#pending = false;
      throw error;
    }
    // close() may have run while the candidate was staged (read through the
    // getter: the check above does not hold across the await).
    if (this.closed) {
      this.#pending = false;
      await staged.release();
      throw this.#options.closedError();
    }
    let settled = false;
    return {
      commit: () => {
        if (settled) return;
        settled = true;
        this.#pending = false;
        if (this.closed) {
          staged.release().catch(this.#options.onReleaseError);
          return;
        }
        staged.commit();
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        this.#pending = false;
        await staged.release();
      },
    };
  }
}
