/**
 * Why a role could not start, in one line a person can act on. A listener
 * that cannot bind is the usual reason (another program has the port), and
 * its error reaches here in many wrappings — node's listen error, a NACKed
 * first config quoting it, an L7 thread's refusal — so the line is built
 * from the message: "cannot listen on 127.0.0.1:8554 (address in use)".
 */
import { ResourcesRefusedError } from '../config/index.js';
import { errorMessage } from '../shared/errors.js';

const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
};

/** Resources worth naming in the line (settings resources are named by their address alone). */
const RESOURCE_WORDS: Partial<Record<string, string>> = {
  HTTP_LISTENER: 'HTTP listener',
  MEDIA_ROUTE: 'route',
};

const LISTEN_CODE = /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b|\b(?:is|already) in use\b/;
/**
 * host:port, [v6]:port: the first in the message is the address the error
 * is about (a relay route's keeps its "(or its RTCP port)").
 */
const ADDRESS = /(?:\[[0-9a-fA-F:.]+\]|\b[0-9a-zA-Z.-]+):\d{1,5}\b(?: \(or its RTCP port\))?/;

export function describeStartFailure(error: unknown): string {
  const message = errorMessage(error);
  const listen = LISTEN_CODE.exec(message);
  const code = listen === null ? undefined : (listen[1] ?? 'EADDRINUSE');
  const address = ADDRESS.exec(message)?.[0];
  if (code !== undefined && address !== undefined) {
    const issues = error instanceof ResourcesRefusedError ? error.resourceIssues : [];
    const issue = issues.length === 1 ? issues[0] : undefined;
    const kind = issue === undefined ? undefined : RESOURCE_WORDS[issue.type];
    const resource = kind === undefined ? '' : ` for ${kind} ${issue?.name ?? ''}`;
    return `cannot listen on ${address}${resource} (${LISTEN_ERRORS[code] ?? code})`;
  }
  return error instanceof ResourcesRefusedError ? `config refused: ${error.summary}` : message;
}
