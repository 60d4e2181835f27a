/**
 * The chain itself: packet order, the first drop ends the packet's way and
 * is counted once, a throwing interceptor costs one packet (counted), the
 * list can change between packets but not under one in flight.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DropCounters,
  MediaPacket,
  PASS,
  PacketChain,
  PacketChainError,
  type DropReason,
  type Interceptor,
} from '../../../../src/media/packet-chain/index.js';
import { ManualClock } from '../../../helpers/quality.js';

/** Records that it saw a packet; drops when told to. */
class Step implements Interceptor {
  seen = 0;
  constructor(
    readonly name: string,
    readonly log: string[],
    readonly drop?: DropReason,
  ) {}
  process(): DropReason | undefined {
    this.seen += 1;
    this.log.push(this.name);
    return this.drop ?? PASS;
  }
}

const packet = (): MediaPacket => new MediaPacket().load(Buffer.from([0x80, 0, 0, 1]), 0);

describe('PacketChain', () => {
  it('runs interceptors in order and stops at the first drop, counting its reason once', () => {
    const log: string[] = [];
    const after = new Step('after', log);
    const chain = new PacketChain([new Step('a', log), new Step('b', log, 'b_said_no'), after]);
    assert.equal(chain.run(packet()), false);
    assert.equal(chain.run(packet()), false);
    assert.deepEqual(log, ['a', 'b', 'a', 'b']);
    assert.equal(after.seen, 0);
    assert.deepEqual(chain.drops.counts, { b_said_no: 2 });
  });

  it('passes a packet through an empty chain', () => {
    const chain = new PacketChain();
    assert.equal(chain.run(packet()), true);
    assert.deepEqual(chain.drops.counts, {});
  });

  it('counts a throwing interceptor as interceptor_failed and keeps going with the next packet', () => {
    let calls = 0;
    const flaky: Interceptor = {
      name: 'flaky',
      process: () => {
        calls += 1;
        if (calls === 1) throw new Error('bug');
        return PASS;
      },
    };
    const chain = new PacketChain([flaky]);
    assert.equal(chain.run(packet()), false);
    assert.equal(chain.run(packet()), true);
    assert.deepEqual(chain.drops.counts, { interceptor_failed: 1 });
  });

  it('shares one DropCounters between the chains of one owner', () => {
    const drops = new DropCounters();
    const log: string[] = [];
    const inbound = new PacketChain([new Step('in', log, 'x')], { drops });
    const outbound = new PacketChain([new Step('out', log, 'y')], { drops });
    inbound.run(packet());
    outbound.run(packet());
    outbound.run(packet());
    assert.deepEqual(drops.counts, { x: 1, y: 2 });
    assert.equal(drops.total(), 3);
  });

  it('inserts before and after a named interceptor, removes, and refuses a duplicate name', () => {
    const log: string[] = [];
    const chain = new PacketChain([new Step('a', log), new Step('c', log)]);
    chain.insertBefore('c', new Step('b', log));
    chain.insertAfter('c', new Step('d', log));
    chain.insertBefore('a', new Step('first', log));
    assert.deepEqual(chain.names(), ['first', 'a', 'b', 'c', 'd']);
    chain.run(packet());
    assert.deepEqual(log, ['first', 'a', 'b', 'c', 'd']);
    assert.equal(chain.remove('b'), true);
    assert.equal(chain.remove('b'), false);
    assert.deepEqual(chain.names(), ['first', 'a', 'c', 'd']);
    assert.throws(() => chain.append(new Step('a', log)), PacketChainError);
    assert.throws(() => chain.insertBefore('nope', new Step('e', log)), PacketChainError);
  });

  it('lets a packet in flight finish on the list it started with', () => {
    const log: string[] = [];
    const chain = new PacketChain();
    const adder: Interceptor = {
      name: 'adder',
      process: () => {
        if (!chain.has('late-comer')) chain.append(new Step('late-comer', log, 'stop'));
        return PASS;
      },
    };
    chain.append(adder);
    assert.equal(chain.run(packet()), true, 'the packet that changed the list does not see it');
    assert.equal(chain.run(packet()), false, 'the next one does');
    assert.deepEqual(log, ['late-comer']);
  });

  it('reuses one packet object: load resets the parsed fields', () => {
    const clock = new ManualClock(500);
    const chain = new PacketChain([], { clock });
    const reused = new MediaPacket();
    reused.load(Buffer.alloc(20), chain.clock.now(), '10.0.0.1', 4000);
    reused.ssrc = 7;
    reused.verdict = 'duplicate';
    const again = reused.load(Buffer.alloc(30), 600, '10.0.0.2', 4002);
    assert.equal(again, reused);
    assert.deepEqual(
      [again.ssrc, again.verdict, again.wireLength, again.arrivalMs, again.sourceAddress],
      [0, 'ok', 30, 600, '10.0.0.2'],
    );
    assert.equal(chain.clock.now(), 500);
  });
});
