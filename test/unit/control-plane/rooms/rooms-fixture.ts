/**
 * What the rooms unit tests share: a real Registry and RoomMembership on a
 * fake clock (staleness is the clock's), signaling nodes registered with
 * the cascade's listen addresses (and a SPIFFE ID when asked), and a
 * config source with the defaults (signaling.capacity stands in for nodes
 * that have not reported load).
 */
import { pino } from 'pino';
import { defaultConfig } from '../../../../src/config/index.js';
import { RoomMembership } from '../../../../src/control-plane/rooms/index.js';
import { Registry } from '../../../../src/control-plane/registry/index.js';
import type { Role } from '../../../../src/protocol/mesh/index.js';
import type { Logger } from '../../../../src/shared/log.js';

export const HEARTBEAT_MS = 1_000;
/** Three missed heartbeats: stale after this much silence. */
export const STALE_AFTER_MS = 3 * HEARTBEAT_MS;

export interface Rooms {
  readonly clock: { now: number };
  readonly registry: Registry;
  readonly membership: RoomMembership;
  readonly store: {
    readonly current: {
      readonly version: string;
      readonly config: ReturnType<typeof defaultConfig>;
    };
    on(): void;
    off(): void;
  };
  readonly log: Logger;
  /** Registers a node with its stream open. */
  join(id: string, options?: { role?: Role; spiffeId?: string; cascade?: boolean }): void;
  /** Heartbeats from every node whose stream is open (keeps them from going stale). */
  heartbeat(): void;
}

export function roomsFixture(): Rooms {
  const clock = { now: Date.parse('2026-12-05T08:00:00Z') };
  const registry = new Registry({
    clock: { now: () => clock.now },
    heartbeatIntervalMs: HEARTBEAT_MS,
    staleAfterMissedHeartbeats: 3,
    maxNodes: 100,
    forgetAfterMs: 600_000,
  });
  const config = defaultConfig({});
  return {
    clock,
    registry,
    membership: new RoomMembership(registry),
    store: { current: { version: 'v1', config }, on() {}, off() {} },
    log: pino({ level: 'silent' }),
    join(id, options = {}) {
      const last = 10 + registry.list().length;
      registry.register(
        {
          identity: { id, node: 'n', role: options.role ?? 'ROLE_SIGNALING' },
          capabilities: [],
          listenAddresses: {
            signaling: `127.0.0.${last}:8080`,
            ...(options.cascade === false ? {} : { cascade: `127.0.0.${last}:8444` }),
          },
          currentVersion: '',
        },
        options.spiffeId,
      );
      registry.streamOpened(id);
    },
    heartbeat() {
      for (const record of registry.records()) if (record.streamOpen) registry.seen(record.id);
    },
  };
}
