/**
 * Errors carry a stable `code` so that callers, logs and tests can tell
 * failures apart without matching on message text.
 */
export class StreammeshError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem in a config: where (file and field path) and why. */
export interface ConfigIssue {
  readonly path: string;
  readonly reason: string;
}

/** A config that cannot be used; its message names the source, field and reason. */
export class ConfigError extends StreammeshError {
  readonly source: string;
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(
      'ERR_CONFIG_INVALID',
      issues
        .map((issue) => `${source}: ${issue.path === '' ? '' : `${issue.path}: `}${issue.reason}`)
        .join('\n'),
    );
    this.source = source;
    this.issues = issues;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
