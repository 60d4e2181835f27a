/**
 * The ports tests write into configs are picked free and bound only later:
 * one test process must never be handed the same port twice, or two peers
 * of one suite end up on one address (see ports.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freeUdpPort, freeUdpPortPair } from '../../helpers/peers/process.js';

describe('port picks of one test process', () => {
  it('never hand out a port twice, nor a pair that overlaps a port handed out', async () => {
    // 1,500 single ports and 1,500 pairs out of 9,000: picked at random
    // without memory, thousands of them would meet.
    const taken = new Set<number>();
    const take = (port: number): void => {
      assert.ok(!taken.has(port), `port ${port} handed out twice`);
      taken.add(port);
    };
    for (let i = 0; i < 1_500; i++) {
      take(await freeUdpPort());
      const pair = await freeUdpPortPair();
      assert.equal(pair % 2, 0, 'the RTP port of a pair is even');
      take(pair);
      take(pair + 1);
    }
  });
});
