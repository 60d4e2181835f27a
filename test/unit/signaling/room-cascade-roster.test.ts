/**
 * The remote side of a room (RemoteRoster) and a room's share as link
 * messages (roomSyncMessages): what the cascade turns the other nodes'
 * messages into, and what it sends them.
 *
 * - each change answers the protocol events the local members get, and a
 *   repeated message answers none;
 * - a node changes only what it reported (a peer or producer id another
 *   node holds is left alone), and no node grows a room past its bounds;
 * - a `sync` replaces a node's whole share: what it lacks closes and
 *   leaves, what is new is added, a changed pause state is told;
 * - a share larger than a frame is a `sync` of what fits, then peerJoined
 *   and producerAdded in order, each under the cap, and replaying them
 *   gives the whole share.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_LINK_MESSAGE_BYTES,
  encodeLinkMessage,
  parseLinkMessage,
  roomSyncMessages,
  syncPeer,
  type SyncProducer,
} from '../../../signaling/cascade/index.js';
import { RemoteRoster, type RosterChange } from '../../../signaling/server/index.js';

const video = (producerId: string, peer: string, paused = false) => ({
  peer,
  producerId,
  kind: 'video' as const,
  paused,
  appData: {},
});

const events = (changes: readonly RosterChange[]): string[] =>
  changes.map((change) =>
    'peer' in change
      ? `${change.event} ${change.peer.peer}@${change.peer.node}`
      : `${change.event} ${change.producer.producerId}@${change.producer.node}`,
  );

describe('RemoteRoster', () => {
  it('answers each change once, as the events local members get', () => {
    const roster = new RemoteRoster();
    assert.deepEqual(events(roster.joinPeer('b', 'bob', 'Bob')), ['peerJoined bob@b']);
    assert.deepEqual(events(roster.joinPeer('b', 'bob', 'Bob')), []);
    assert.deepEqual(events(roster.addProducer('b', video('p1', 'bob'))), ['newProducer p1@b']);
    assert.deepEqual(events(roster.addProducer('b', video('p1', 'bob'))), []);
    assert.deepEqual(events(roster.setPaused('b', 'p1', true)), ['producerPaused p1@b']);
    assert.deepEqual(events(roster.setPaused('b', 'p1', true)), []);
    assert.deepEqual(events(roster.setPaused('b', 'p1', false)), ['producerResumed p1@b']);
    assert.equal(roster.producers.get('p1')?.paused, false);
    assert.deepEqual(events(roster.closeProducer('b', 'p1')), ['producerClosed p1@b']);
    assert.deepEqual(events(roster.closeProducer('b', 'p1')), []);
    assert.deepEqual(events(roster.leavePeer('b', 'bob')), ['peerLeft bob@b']);
    assert.equal(roster.peers.size + roster.producers.size, 0);
  });

  it('closes a leaving peer’s producers before it leaves', () => {
    const roster = new RemoteRoster();
    roster.joinPeer('b', 'bob', null);
    roster.addProducer('b', video('p1', 'bob'));
    roster.addProducer('b', video('p2', 'bob'));
    assert.deepEqual(events(roster.leavePeer('b', 'bob')), [
      'producerClosed p1@b',
      'producerClosed p2@b',
      'peerLeft bob@b',
    ]);
  });

  it('lets a node change only what it reported', () => {
    const roster = new RemoteRoster();
    roster.joinPeer('b', 'bob', 'Bob');
    roster.addProducer('b', video('p1', 'bob'));
    assert.deepEqual(events(roster.joinPeer('c', 'bob', 'Mallory')), []);
    assert.equal(roster.peers.get('bob')?.displayName, 'Bob');
    assert.deepEqual(events(roster.addProducer('c', video('p1', 'eve'))), []);
    assert.deepEqual(events(roster.setPaused('c', 'p1', true)), []);
    assert.deepEqual(events(roster.closeProducer('c', 'p1')), []);
    assert.deepEqual(events(roster.leavePeer('c', 'bob')), []);
    assert.deepEqual(events(roster.drop('c')), []);
    assert.equal(roster.producers.get('p1')?.node, 'b');
    assert.equal(roster.peers.get('bob')?.node, 'b');
  });

  it('leaves out, and counts, peers and producers past its bounds', () => {
    let maxPeers = 2;
    const roster = new RemoteRoster({ maxPeers: () => maxPeers, maxProducers: () => 3 });
    const changes = roster.sync(
      'b',
      ['p1', 'p2', 'p3'].map((peer) => ({ peer, displayName: null })),
      ['x1', 'x2', 'x3', 'x4'].map((id) => video(id, 'p1')),
    );
    assert.deepEqual(events(changes), [
      'peerJoined p1@b',
      'peerJoined p2@b',
      'newProducer x1@b',
      'newProducer x2@b',
      'newProducer x3@b',
    ]);
    assert.equal(roster.refused, 2);
    assert.deepEqual(events(roster.joinPeer('c', 'p4', null)), []);
    // The bound is read at each addition.
    maxPeers = 3;
    assert.deepEqual(events(roster.joinPeer('c', 'p4', null)), ['peerJoined p4@c']);
  });

  it('replaces a node’s share with a sync, and a drop empties it', () => {
    const roster = new RemoteRoster();
    roster.joinPeer('b', 'bob', null);
    roster.joinPeer('b', 'ben', null);
    roster.addProducer('b', video('p1', 'bob'));
    roster.addProducer('b', video('p2', 'ben'));
    roster.joinPeer('c', 'cid', null);
    const changes = roster.sync(
      'b',
      [
        { peer: 'bob', displayName: null },
        { peer: 'bea', displayName: null },
      ],
      [video('p1', 'bob', true), video('p3', 'bea')],
    );
    assert.deepEqual(events(changes), [
      'producerClosed p2@b',
      'peerLeft ben@b',
      'peerJoined bea@b',
      'producerPaused p1@b',
      'newProducer p3@b',
    ]);
    assert.deepEqual(events(roster.drop('b')), [
      'producerClosed p1@b',
      'producerClosed p3@b',
      'peerLeft bob@b',
      'peerLeft bea@b',
    ]);
    assert.deepEqual([...roster.peers.keys()], ['cid'], 'another node’s share stays');
  });
});

describe('roomSyncMessages', () => {
  it('is one sync when the share fits a frame', () => {
    const messages = roomSyncMessages(
      'r1',
      [syncPeer({ peer: 'alice', displayName: null })],
      [video('p1', 'alice')],
    );
    assert.equal(messages.length, 1);
    assert.deepEqual(messages[0], {
      type: 'sync',
      room: 'r1',
      // A peer without a display name has none on the other nodes either.
      peers: [{ peer: 'alice', displayName: null }],
      producers: [video('p1', 'alice')],
    });
  });

  it('splits a large share into a sync, then peerJoined and producerAdded, each under the cap', () => {
    const name = 'x'.repeat(40);
    const peers = Array.from({ length: 1500 }, (_, i) => ({
      peer: `peer-${i}`,
      displayName: `${name} ${i}`,
    }));
    const producers: SyncProducer[] = peers.map((peer, i) => ({
      ...video(`producer-${i}-${'f'.repeat(30)}`, peer.peer),
      appData: { label: `${name}-${i}` },
    }));
    const messages = roomSyncMessages('r1', peers, producers);
    assert.ok(messages.length > 1, 'more than one frame');
    assert.equal(messages[0]?.type, 'sync');
    for (const message of messages) {
      const frame = encodeLinkMessage(message);
      assert.ok(Buffer.byteLength(frame) <= MAX_LINK_MESSAGE_BYTES, `${message.type} fits`);
      assert.equal(parseLinkMessage(frame).ok, true, `${message.type} parses`);
    }
    // Replayed in order onto a roster, they give the whole share.
    const roster = new RemoteRoster();
    const firstProducer = messages.findIndex((m) => m.type === 'producerAdded');
    const lastPeer = messages.findLastIndex((m) => m.type === 'peerJoined');
    assert.ok(lastPeer === -1 || firstProducer === -1 || lastPeer < firstProducer);
    for (const message of messages) {
      if (message.type === 'sync') roster.sync('a', message.peers, message.producers.map(input));
      else if (message.type === 'peerJoined')
        roster.joinPeer('a', message.peer, message.displayName);
      else if (message.type === 'producerAdded') roster.addProducer('a', input(message));
    }
    assert.equal(roster.peers.size, peers.length);
    assert.equal(roster.producers.size, producers.length);
  });
});

function input(producer: SyncProducer) {
  return { ...producer, appData: producer.appData ?? {} };
}
