/**
 * The share of a worker's RTC port slice cascade pipes may bind
 * (sfu/port-slices.ts `pipePortRange`): its top quarter, at least its last
 * port, never outside the slice, and the rest of the slice left to
 * participants.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MIN_PORTS_PER_WORKER,
  PIPE_PORT_SHARE,
  pipePortRange,
  splitPortRange,
} from '../../../signaling/sfu/port-slices.js';

describe('pipePortRange', () => {
  it('is the top quarter of a slice', () => {
    assert.deepEqual(pipePortRange({ min: 50000, max: 59999 }), { min: 57500, max: 59999 });
    assert.deepEqual(pipePortRange({ min: 43510, max: 43525 }), { min: 43522, max: 43525 });
  });

  it('keeps at least the last port, and the rest for participants, in the smallest slices', () => {
    assert.deepEqual(pipePortRange({ min: 100, max: 100 + MIN_PORTS_PER_WORKER - 1 }), {
      min: 101,
      max: 101,
    });
    assert.deepEqual(pipePortRange({ min: 100, max: 106 }), { min: 106, max: 106 });
  });

  it('stays inside every worker slice and leaves participants three quarters of it', () => {
    for (const total of [2, 3, 7, 16, 50, 101, 10_000]) {
      for (const workers of [1, 2, 3, 4]) {
        if (Math.floor(total / workers) < MIN_PORTS_PER_WORKER) continue;
        for (const slice of splitPortRange({ min: 40_000, max: 40_000 + total - 1 }, workers)) {
          const share = pipePortRange(slice);
          const size = slice.max - slice.min + 1;
          assert.ok(share.min >= slice.min && share.max === slice.max, JSON.stringify(slice));
          const pipes = share.max - share.min + 1;
          assert.ok(pipes >= 1 && pipes <= Math.max(1, size / PIPE_PORT_SHARE));
          // Three quarters at least, or all but the one pipe port of a tiny slice.
          assert.ok(size - pipes >= Math.min(size - 1, Math.ceil((size * 3) / 4)), `${size}`);
        }
      }
    }
  });
});
