/**
 * Hands out RTP/RTCP port pairs (even, even+1) from proxy.rtpPorts, binding
 * both sockets. Ports held by other programs are skipped; the search starts
 * where the last one ended, so a freed pair is not reused at once (late
 * packets of an old stream must not reach a new one).
 *
 * The sockets are media sockets (BatchSocket) of the thread's UDP I/O kind
 * (udp-io.ts): native recvmmsg/sendmmsg or node:dgram.
 */
import { StreammeshError } from '../../shared/errors.js';
import type { BatchSocket } from './batch-types.js';
import { bindMediaSocket, closeMediaSocket } from './udp-io.js';

export interface PortPair {
  readonly rtp: BatchSocket;
  /** Undefined when RTCP shares the RTP port (rtcp-mux). */
  readonly rtcp: BatchSocket | undefined;
  readonly port: number;
}

/** Closes both sockets of a pair (without waiting; already closed is fine). */
export function closePair(pair: PortPair): void {
  closeMediaSocket(pair.rtp);
  closeMediaSocket(pair.rtcp);
}

export class PortsExhaustedError extends StreammeshError {
  constructor(start: number, end: number) {
    super('ERR_PORTS_EXHAUSTED', `no free RTP port pair in proxy.rtpPorts ${start}-${end}`);
  }
}

export class PortAllocator {
  readonly #start: number;
  readonly #end: number;
  readonly #held = new Set<number>();
  #cursor: number;

  constructor(range: { start: number; end: number }) {
    this.#start = range.start;
    // The last even port whose odd partner is still in range.
    this.#end = range.end % 2 === 0 ? range.end - 2 : range.end - 1;
    this.#cursor = range.start;
  }

  /** Binds a pair on `host` (only the even port when `mux`). */
  allocate(host: string, mux: boolean): Promise<PortPair> {
    return this.allocateWith((port) => bindPair(host, port, mux));
  }

  /**
   * Picks the pairs as allocate() does but lets `bind` bind them, for a
   * pair bound on another thread (an RTSP viewer's pair on a media worker):
   * `bind` resolves undefined when the port is taken (the next is tried)
   * and rejects to give up. The port is held once `bind` took it.
   */
  async allocateWith<Bound>(bind: (port: number) => Promise<Bound | undefined>): Promise<Bound> {
    const pairs = (this.#end - this.#start) / 2 + 1;
    for (let tried = 0; tried < pairs; tried += 1) {
      const port = this.#cursor;
      this.#cursor = port + 2 > this.#end ? this.#start : port + 2;
      if (this.#held.has(port)) continue;
      // Held while bound elsewhere, so that a concurrent allocation skips it.
      this.#held.add(port);
      let bound: Bound | undefined;
      try {
        bound = await bind(port);
      } catch (error) {
        this.#held.delete(port);
        throw error;
      }
      if (bound !== undefined) return bound;
      this.#held.delete(port);
    }
    throw new PortsExhaustedError(this.#start, this.#end + 1);
  }

  release(port: number): void {
    this.#held.delete(port);
  }
}

/** Binds `port` (and `port + 1` unless mux); undefined when either is taken. */
export async function bindPair(
  host: string,
  port: number,
  mux: boolean,
): Promise<PortPair | undefined> {
  let rtp: BatchSocket | undefined;
  try {
    rtp = await bindMediaSocket(host, port);
    const rtcp = mux ? undefined : await bindMediaSocket(host, port + 1);
    return { rtp, rtcp, port };
  } catch (error) {
    closeMediaSocket(rtp);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') return undefined;
    throw error;
  }
}
