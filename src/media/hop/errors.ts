import { StreammeshError } from '../../shared/errors.js';

/**
 * A hop key that one end refuses: meant for another hop, an epoch not newer
 * than the one in use, or a second, different key for an epoch already held.
 * A control plane that sends one has a bug; the end keeps its current keys.
 */
export class HopKeyRejectedError extends StreammeshError {
  constructor(message: string) {
    super('ERR_HOP_KEY_REJECTED', message);
  }
}

/** A hop end built with an option it cannot run with; names the option. */
export class HopOptionsError extends StreammeshError {
  readonly option: string;

  constructor(option: string, reason: string) {
    super('ERR_HOP_OPTIONS', `hop option ${option}: ${reason}`);
    this.option = option;
  }
}
