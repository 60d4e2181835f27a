/**
 * Why a cascade link request failed: one class per failure, each with a
 * stable code, so the room logic can tell "the peer said no" (a
 * pipeRefused reply, not an error) from "the peer did not answer".
 */
import { StreammeshError } from '../../src/shared/errors.js';

/** The peer node is not a signaling node this node knows (no SIGNALING_NODE entry). */
export class UnknownLinkNodeError extends StreammeshError {
  constructor(node: string) {
    super('ERR_CASCADE_LINK_UNKNOWN_NODE', `no signaling node ${node} to link with`);
  }
}

/** No reply within the request's time (the link may be connecting, or the peer slow). */
export class LinkRequestTimeoutError extends StreammeshError {
  constructor(node: string, timeoutMs: number) {
    super('ERR_CASCADE_LINK_TIMEOUT', `no reply from ${node} within ${timeoutMs} ms`);
  }
}

/** The link the request went over closed before the reply came: it may never come. */
export class LinkDownError extends StreammeshError {
  constructor(node: string) {
    super('ERR_CASCADE_LINK_DOWN', `the cascade link to ${node} went down`);
  }
}

/** The links were closed (the node is stopping). */
export class LinksClosedError extends StreammeshError {
  constructor() {
    super('ERR_CASCADE_LINKS_CLOSED', 'the cascade links are closed');
  }
}

/** mTLS is on but the node has no workload certificate yet: the listener cannot start. */
export class NoWorkloadCertificateError extends StreammeshError {
  constructor() {
    super(
      'ERR_CASCADE_LINK_NO_CERTIFICATE',
      'the cascade link listener needs the workload certificate, and this node has none yet',
    );
  }
}
