/**
 * Opens a batched UDP socket (issue 20, point 1): the native addon
 * (recvmmsg/sendmmsg) when it is built, else node:dgram with the same
 * interface. `kind` says which one a caller got, and `fallbackReason` why
 * not native, so that a deployment can log it once: the fallback is correct
 * but moves several times fewer packets per second.
 *
 * Not wired into the relay yet; `npm install` does not build the addon yet
 * (scripts/build-native.mjs does, by hand or from the tests).
 */
import { NativeBatchSocket, loadUdpBatchAddon } from './batch-native.js';
import { DgramBatchSocket } from './batch-dgram.js';
import type { BatchSocket, BatchSocketOptions } from './batch-types.js';

export type {
  BatchHandler,
  BatchSocket,
  BatchSocketCounters,
  BatchSocketOptions,
  UdpBatch,
  UdpDestination,
  UdpSource,
} from './batch-types.js';
export { DgramBatchSocket } from './batch-dgram.js';
export { NativeBatchSocket, loadUdpBatchAddon } from './batch-native.js';

export interface OpenBatchSocketOptions extends BatchSocketOptions {
  /** true: native or throw; false: dgram; unset: native when built. */
  readonly native?: boolean;
}

export interface OpenedBatchSocket {
  readonly socket: BatchSocket;
  readonly kind: 'native' | 'dgram';
  /** Why the native addon was not used, when it was not. */
  readonly fallbackReason?: string;
}

export function openBatchSocket(options: OpenBatchSocketOptions = {}): OpenedBatchSocket {
  const { native, ...socketOptions } = options;
  if (native === false) {
    return {
      socket: new DgramBatchSocket(socketOptions),
      kind: 'dgram',
      fallbackReason: 'asked for dgram',
    };
  }
  const loaded = loadUdpBatchAddon();
  if ('addon' in loaded) {
    return { socket: new NativeBatchSocket(loaded.addon, socketOptions), kind: 'native' };
  }
  if (native === true)
    throw new Error(`the native UDP batch addon is not available: ${loaded.error}`);
  return {
    socket: new DgramBatchSocket(socketOptions),
    kind: 'dgram',
    fallbackReason: loaded.error,
  };
}
