/**
 * Which implementation moves this thread's media datagrams (issue 20,
 * point 1): the native recvmmsg/sendmmsg addon or node:dgram. One choice per
 * thread (module state is per worker thread), made once at start from
 * proxy.udpIo by the proxy (useUdpIo), or, when nobody made it (tests, a
 * tool), from STREAMMESH_PROXY_UDP_IO, else 'auto'. Every media socket the
 * relay, the RTSP proxy and the camera pull open goes through
 * openMediaSocket, so they all run on the path that was chosen.
 *
 * - native: the addon or a clear error (UdpIoUnavailableError), never a
 *   silent fallback;
 * - dgram: node:dgram, the fallback, always there;
 * - auto: native when the addon loads, else dgram, said once in the log.
 */
import { StreammeshError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { DgramBatchSocket } from './batch-dgram.js';
import { NativeBatchSocket, loadUdpBatchAddon } from './batch-native.js';
import type { BatchSocket, BatchSocketOptions } from './batch-types.js';

export type UdpIoSetting = 'auto' | 'native' | 'dgram';
export type UdpIoKind = 'native' | 'dgram';

const SETTINGS: readonly string[] = ['auto', 'native', 'dgram'];

/** proxy.udpIo is native (or the environment says so) and the addon cannot be loaded. */
export class UdpIoUnavailableError extends StreammeshError {
  constructor(reason: string) {
    super(
      'ERR_UDP_IO_UNAVAILABLE',
      `proxy.udpIo is native but the UDP batch addon (native/udp-batch) cannot be loaded: ${reason}. ` +
        'Build it with `node scripts/build-native.mjs udp-batch` (npm install does), or set proxy.udpIo to auto or dgram.',
    );
  }
}

export interface UdpIoChoice {
  readonly setting: UdpIoSetting;
  readonly kind: UdpIoKind;
  /** Why not native, when auto fell back. */
  readonly fallbackReason?: string;
}

let chosen: UdpIoChoice | undefined;

function resolve(setting: UdpIoSetting): UdpIoChoice {
  if (setting === 'dgram') return { setting, kind: 'dgram' };
  const loaded = loadUdpBatchAddon();
  if ('addon' in loaded) return { setting, kind: 'native' };
  if (setting === 'native') throw new UdpIoUnavailableError(loaded.error);
  return { setting, kind: 'dgram', fallbackReason: loaded.error };
}

function parseSetting(value: string, from: string): UdpIoSetting {
  if (!SETTINGS.includes(value)) {
    throw new StreammeshError(
      'ERR_UDP_IO_SETTING',
      `${from} is ${JSON.stringify(value)}: it must be auto, native or dgram`,
    );
  }
  return value as UdpIoSetting;
}

/**
 * Sets this thread's UDP I/O from proxy.udpIo (at start, before any media
 * socket opens). Throws UdpIoUnavailableError for native without the addon;
 * auto's fallback is logged once per thread.
 */
export function useUdpIo(setting: UdpIoSetting, log?: Logger): UdpIoChoice {
  const choice = resolve(parseSetting(setting, 'proxy.udpIo'));
  const announce = chosen?.kind !== choice.kind || chosen.setting !== choice.setting;
  chosen = choice;
  if (announce && choice.fallbackReason !== undefined) {
    log?.warn(
      { udpIo: choice.setting, kind: choice.kind, reason: choice.fallbackReason },
      'UDP batch addon not available: media sockets use node:dgram (correct, several times slower)',
    );
  } else if (announce) {
    log?.info({ udpIo: choice.setting, kind: choice.kind }, 'media UDP I/O');
  }
  return choice;
}

/** This thread's choice; made from STREAMMESH_PROXY_UDP_IO (else auto) when nobody made one. */
export function udpIoChoice(): UdpIoChoice {
  chosen ??= resolve(
    parseSetting(process.env.STREAMMESH_PROXY_UDP_IO ?? 'auto', 'STREAMMESH_PROXY_UDP_IO'),
  );
  return chosen;
}

export function udpIoKind(): UdpIoKind {
  return udpIoChoice().kind;
}

/** An unbound media socket of this thread's kind. */
export function openMediaSocket(options: BatchSocketOptions = {}): BatchSocket {
  if (udpIoKind() === 'dgram') return new DgramBatchSocket(options);
  const loaded = loadUdpBatchAddon();
  // resolve() loaded it already; this cannot fail once the choice is native.
  if (!('addon' in loaded)) throw new UdpIoUnavailableError(loaded.error);
  return new NativeBatchSocket(loaded.addon, options);
}

/** A media socket of this thread's kind bound to host:port; rejects with the bind error (code EADDRINUSE...). */
export async function bindMediaSocket(
  host: string,
  port: number,
  options: BatchSocketOptions = {},
): Promise<BatchSocket> {
  const socket = openMediaSocket(options);
  try {
    await socket.bind(host, port);
  } catch (error) {
    closeMediaSocket(socket);
    throw error;
  }
  return socket;
}

/** Closes without waiting and without throwing (already closed is fine). */
export function closeMediaSocket(socket: BatchSocket | undefined): void {
  if (socket === undefined || socket.closed) return;
  socket.close().catch(() => undefined);
}
