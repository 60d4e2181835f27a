/**
 * Parses and validates config text on its own thread, under a deadline and a
 * heap limit. There the pre-scan (bounded-parse.ts) refuses deep nesting
 * before the parser starts, but a flat text within the size bound can still keep a parser busy for
 * seconds (a 1 MiB YAML mapping of 90,000 keys took 22 s in `yaml`'s
 * duplicate-key check): here that costs a worker, never the caller's event
 * loop, and a worker out of memory is an error, not the end of the process.
 */
import { Worker } from 'node:worker_threads';
import { ConfigError, type ConfigIssue } from '../shared/errors.js';
import type { MeshConfig } from './schema.js';

type Environment = Readonly<Record<string, string | undefined>>;

export interface ParseRequest {
  readonly text: string;
  readonly source: string;
  readonly env: Environment;
}

export type ParseResult =
  | { readonly ok: true; readonly config: MeshConfig }
  | { readonly ok: false; readonly issues: ConfigIssue[] };

/** The worker's first message: its modules are loaded and the parse begins now. */
export const PARSE_STARTED = 'parse-started';

export type ParseWorkerMessage = typeof PARSE_STARTED | ParseResult;

export interface ParseLimits {
  /**
   * The worker is stopped, and the text refused, this long after it began
   * to parse. The thread's start-up is not counted: loading the schema's
   * modules takes a second or more on a loaded machine, whatever the text.
   */
  readonly timeoutMs: number;
  /** The worker's start-up (no text read yet) may take this long before it is given up. */
  readonly startupTimeoutMs: number;
  /** The worker's old-generation heap; exhausting it refuses the text. */
  readonly maxHeapMb: number;
}

/** A legitimate config parses in milliseconds; a 1 MiB list of routes in under one second. */
export const defaultParseLimits: ParseLimits = {
  timeoutMs: 3_000,
  startupTimeoutMs: 30_000,
  maxHeapMb: 256,
};

/**
 * parseConfigText on a worker thread: resolves to the config, or rejects with
 * a ConfigError naming the source (also when the text takes too long or too
 * much memory to parse).
 */
export async function parseConfigTextIsolated(
  text: string,
  source: string,
  env: Environment = {},
  limits: ParseLimits = defaultParseLimits,
): Promise<MeshConfig> {
  // The pre-scan (checkConfigText) runs in the worker too, inside parseConfigText:
  // cold, it costs 25 ms per MiB, which this thread does not pay.
  const request: ParseRequest = { text, source, env: { ...env } };
  const worker = new Worker(new URL('./parse-worker.js', import.meta.url), {
    workerData: request,
    resourceLimits: { maxOldGenerationSizeMb: limits.maxHeapMb, maxYoungGenerationSizeMb: 16 },
  });
  const result = await new Promise<ParseResult>((resolve) => {
    const refuse = (reason: string): void => resolve({ ok: false, issues: [{ path: '', reason }] });
    const giveUp = (reason: string, afterMs: number): NodeJS.Timeout =>
      setTimeout(() => {
        refuse(reason);
        void worker.terminate();
      }, afterMs);
    let timer = giveUp(
      `the config parser did not start within ${limits.startupTimeoutMs} ms; not parsed`,
      limits.startupTimeoutMs,
    );
    worker.on('message', (message: ParseWorkerMessage) => {
      clearTimeout(timer);
      if (message === PARSE_STARTED) {
        timer = giveUp(
          `took longer than ${limits.timeoutMs} ms to parse; refused`,
          limits.timeoutMs,
        );
        return;
      }
      resolve(message);
    });
    worker.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      refuse(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `needs more than ${limits.maxHeapMb} MB to parse; refused`
          : `cannot be parsed: ${error.message}`,
      );
    });
    worker.once('exit', () => {
      clearTimeout(timer);
      refuse('the parser stopped without an answer');
    });
  });
  if (result.ok) return result.config;
  throw new ConfigError(source, result.issues);
}
