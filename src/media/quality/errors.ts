import { StreammeshError } from '../../shared/errors.js';

/** A `StreamQuality` was constructed with an option it cannot measure with. */
export class QualityOptionsError extends StreammeshError {
  readonly option: string;

  constructor(option: string, reason: string) {
    super('ERR_QUALITY_OPTIONS', `StreamQuality option ${option}: ${reason}`);
    this.option = option;
  }
}
