/**
 * The coalescing of whole-set reports (a signaling node's rooms and pipe
 * ends): the first change sends at once; changes within the interval after
 * a send give one send at its end, of the set as it is then; flush() (after
 * a Hello) sends now and drops the one due; cancel() (a stream ended) drops
 * it. Timers mocked and the clock injected, so the times are exact.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Coalescer } from '../../../src/node-agent/index.js';

const INTERVAL = 50;

describe('Coalescer', () => {
  let now = 1_000;
  let sent: number[];
  let coalescer: Coalescer;

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    now = 1_000;
    sent = [];
    coalescer = new Coalescer(
      INTERVAL,
      () => sent.push(now),
      () => now,
    );
  });

  afterEach(() => mock.timers.reset());

  /** Moves the clock and the mocked timers on together. */
  const advance = (ms: number): void => {
    now += ms;
    mock.timers.tick(ms);
  };

  it('sends the first change at once, and a burst after it once at the end of the interval', () => {
    coalescer.changed();
    assert.deepEqual(sent, [1_000]);
    for (let i = 0; i < 10; i += 1) {
      advance(3);
      coalescer.changed();
    }
    assert.deepEqual(sent, [1_000], 'nothing more within the interval');
    advance(INTERVAL - 30);
    assert.deepEqual(sent, [1_000, 1_000 + INTERVAL], 'one send at its end');
    advance(10 * INTERVAL);
    assert.equal(sent.length, 2, 'no change, no send');
  });

  it('a change after a quiet interval goes at once again', () => {
    coalescer.changed();
    advance(2 * INTERVAL);
    coalescer.changed();
    assert.deepEqual(sent, [1_000, 1_000 + 2 * INTERVAL]);
  });

  it('flush() sends now and drops the send that was due; the interval starts again', () => {
    coalescer.changed();
    advance(10);
    coalescer.changed();
    advance(10);
    coalescer.flush();
    assert.deepEqual(sent, [1_000, 1_020]);
    advance(INTERVAL);
    assert.equal(sent.length, 2, 'the dropped send does not fire');
    coalescer.changed();
    assert.equal(sent.length, 3);
  });

  it('cancel() drops the send that was due', () => {
    coalescer.changed();
    advance(10);
    coalescer.changed();
    coalescer.cancel();
    advance(INTERVAL);
    assert.deepEqual(sent, [1_000]);
  });
});
