/**
 * A room's local share as link messages: one `sync` (the whole roster and
 * producers, which replaces what the peer node held of ours) when it fits a
 * frame, else a `sync` of what fits followed by `peerJoined` and
 * `producerAdded` for the rest, in order, so the peer ends up with the same
 * set. Each message stays under the link's 64 KiB frame cap
 * (MAX_LINK_MESSAGE_BYTES, link-messages.ts), with room for the envelope.
 *
 * The link names every peer with a display name; a member that gave none
 * is named by its peer id there (see CASCADE.md).
 */
import {
  MAX_LINK_MESSAGE_BYTES,
  encodeLinkMessage,
  type LinkMessage,
  type LinkMessageOf,
} from './link-messages.js';

export type SyncPeer = LinkMessageOf<'sync'>['peers'][number];
export type SyncProducer = LinkMessageOf<'sync'>['producers'][number];

/** What a sync may fill of a frame: the rest is slack for the envelope's fields. */
const SYNC_BUDGET_BYTES = MAX_LINK_MESSAGE_BYTES - 1024;

export function syncPeer(peer: { peer: string; displayName: string | null }): SyncPeer {
  return { peer: peer.peer, displayName: peer.displayName };
}

/** The messages that give a peer node `room`'s local share. */
export function roomSyncMessages(
  room: string,
  peers: readonly SyncPeer[],
  producers: readonly SyncProducer[],
): LinkMessage[] {
  const sync: { type: 'sync'; room: string; peers: SyncPeer[]; producers: SyncProducer[] } = {
    type: 'sync',
    room,
    peers: [],
    producers: [],
  };
  let size = Buffer.byteLength(encodeLinkMessage(sync));
  const rest: LinkMessage[] = [];
  for (const peer of peers) {
    const bytes = Buffer.byteLength(JSON.stringify(peer)) + 1;
    if (rest.length === 0 && size + bytes <= SYNC_BUDGET_BYTES) {
      sync.peers.push(peer);
      size += bytes;
    } else {
      rest.push({ type: 'peerJoined', room, ...peer });
    }
  }
  for (const producer of producers) {
    const bytes = Buffer.byteLength(JSON.stringify(producer)) + 1;
    if (rest.length === 0 && size + bytes <= SYNC_BUDGET_BYTES) {
      sync.producers.push(producer);
      size += bytes;
    } else {
      rest.push({ type: 'producerAdded', room, ...producer });
    }
  }
  return [sync, ...rest];
}
