/**
 * SignalingNodes: one SIGNALING_NODE per live signaling node that
 * registered a cascade address, its url from `signaling_url` else
 * `http://` + `signaling`, its identity the SPIFFE ID it registered with;
 * a drain flips `draining` at once (one 'change'); a stale node leaves.
 * And checkLoad refuses a signaling node's load whose new figures
 * (producers, consumers, worker CPU) are not plausible numbers.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { checkLoad } from '../../../../src/control-plane/config-push/index.js';
import type { SignalingNodeBody } from '../../../../src/config/index.js';
import { SignalingNodes } from '../../../../src/control-plane/rooms/index.js';
import { roomsFixture, STALE_AFTER_MS } from './rooms-fixture.js';

describe('SignalingNodes', () => {
  const feeds: SignalingNodes[] = [];
  afterEach(() => {
    for (const feed of feeds.splice(0)) feed.close();
  });

  it('one body per live signaling node with a cascade address; drain and staleness follow', () => {
    const rooms = roomsFixture();
    rooms.join('sig-a', { spiffeId: 'spiffe://mesh.test/ns/default/sa/sig' });
    rooms.join('sig-b');
    rooms.join('sig-old', { cascade: false });
    rooms.join('proxy-a', { role: 'ROLE_PROXY' });
    rooms.registry.register(
      {
        identity: { id: 'sig-c', node: 'n', role: 'ROLE_SIGNALING' },
        capabilities: [],
        listenAddresses: {
          signaling: '0.0.0.0:8080',
          signaling_url: 'https://sfu-c.example.com',
          cascade: '10.0.0.3:8444',
        },
        currentVersion: '',
      },
      undefined,
    );
    rooms.registry.streamOpened('sig-c');
    const feed = new SignalingNodes({ registry: rooms.registry, log: rooms.log });
    feeds.push(feed);
    feed.start();
    const bodies = () => feed.resources().map((resource) => resource.body as SignalingNodeBody);
    assert.deepEqual(
      bodies()
        .map(({ node }) => node)
        .sort(),
      ['sig-a', 'sig-b', 'sig-c'],
      'no proxy, no node without a cascade address',
    );
    assert.deepEqual(feed.bodyOf('sig-a'), {
      node: 'sig-a',
      identity: 'spiffe://mesh.test/ns/default/sa/sig',
      url: 'http://127.0.0.10:8080',
      link: '127.0.0.10:8444',
      draining: false,
    });
    assert.equal(feed.bodyOf('sig-c')?.url, 'https://sfu-c.example.com', 'the public URL wins');
    let changes = 0;
    feed.on('change', () => (changes += 1));
    rooms.registry.drain('sig-b', rooms.clock.now + 60_000);
    assert.equal(feed.bodyOf('sig-b')?.draining, true);
    assert.equal(changes, 1);
    feed.reconcile();
    assert.equal(changes, 1, 'nothing new, no change');
    rooms.clock.now += STALE_AFTER_MS + 1;
    rooms.registry.seen('sig-a');
    rooms.registry.seen('sig-c');
    feed.reconcile();
    assert.equal(feed.bodyOf('sig-b'), undefined, 'a stale node leaves the directory');
    assert.equal(changes, 2);
  });
});

describe('checkLoad of a signaling node', () => {
  const load = {
    sentAtMs: 1,
    packetsPerSecond: 10,
    bitrateBps: 1e6,
    cpuCores: 0.5,
    sessions: 4,
    capacity: { packetsPerSecond: 1e5, bitrateBps: 1e9, sessions: 2000 },
    producers: 2,
    consumers: 2,
    workerCpuCores: 0.3,
  };

  it('takes plausible figures and refuses the others', () => {
    assert.deepEqual(checkLoad(load), load);
    assert.equal(checkLoad({ ...load, workerCpuCores: Number.NaN }), 'not_finite');
    assert.equal(checkLoad({ ...load, producers: -1 }), 'negative');
    assert.equal(checkLoad({ ...load, consumers: 1e300 }), 'too_large');
  });
});
