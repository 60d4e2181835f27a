/**
 * The thread a config text is parsed and validated in (isolated-parse.ts):
 * whatever the text makes the parser do — take seconds, or run out of
 * memory — happens here, where the caller can time it out or lose it,
 * not on the event loop that serves the admin port (or relays media).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { parseConfigText } from './load.js';
import { PARSE_STARTED, type ParseRequest, type ParseResult } from './isolated-parse.js';

/** A config with more problems than this is reported by its first ones. */
const MAX_ISSUES = 50;

function parse(request: ParseRequest): ParseResult {
  try {
    return { ok: true, config: parseConfigText(request.text, request.source, request.env) };
  } catch (error) {
    if (error instanceof ConfigError) {
      const issues = error.issues.slice(0, MAX_ISSUES);
      if (error.issues.length > MAX_ISSUES) {
        issues.push({ path: '', reason: `and ${error.issues.length - MAX_ISSUES} more problems` });
      }
      return { ok: false, issues };
    }
    return { ok: false, issues: [{ path: '', reason: errorMessage(error) }] };
  }
}

// The caller's deadline starts here, not at the thread's start (isolated-parse.ts).
parentPort?.postMessage(PARSE_STARTED);
parentPort?.postMessage(parse(workerData as ParseRequest));
