/**
 * The body-copy budget and the recorder that charges it, on in-memory
 * streams: a copy over the per-request limit or over the listener's budget is
 * dropped (once, with its reason) and every byte it charged is given back;
 * releasing a copy is idempotent and leaves the budget at 0.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { BodyBufferBudget } from '../../../rtp-proxy/l7/listener/body-budget.js';
import { BodyRecorder, type AbandonReason } from '../../../rtp-proxy/l7/router/body-recorder.js';

/** A recorder on a flowing in-memory body, and the reasons it reported. */
function recording(
  budget: BodyBufferBudget,
  limitBytes = 64 * 1024,
): { source: PassThrough; recorder: BodyRecorder; reasons: AbandonReason[] } {
  const source = new PassThrough();
  const reasons: AbandonReason[] = [];
  const recorder = new BodyRecorder(source, {
    limitBytes,
    budget,
    onAbandoned: (reason) => reasons.push(reason),
  });
  // The proxy pipes the body upstream; here it is just read.
  source.resume();
  return { source, recorder, reasons };
}

function feed(source: PassThrough, ...sizes: number[]): Promise<void> {
  for (const size of sizes) source.write(Buffer.alloc(size));
  // 'data' events of written chunks are emitted by the next tick.
  return new Promise((resolve) => setImmediate(resolve));
}

describe('BodyBufferBudget', () => {
  it('takes bytes up to its limit and never goes below 0', () => {
    const budget = new BodyBufferBudget(100);
    assert.equal(budget.tryCharge(60), true);
    assert.equal(budget.tryCharge(41), false);
    assert.equal(budget.usedBytes, 60);
    assert.equal(budget.tryCharge(40), true);
    budget.release(100);
    budget.release(5);
    assert.equal(budget.usedBytes, 0);
  });
});

describe('BodyRecorder with a budget', () => {
  it('keeps copies while they fit, drops the one that does not, and gives back its bytes', async () => {
    const budget = new BodyBufferBudget(3_000);
    const first = recording(budget);
    const second = recording(budget);
    await feed(first.source, 1_000, 1_000);
    await feed(second.source, 400);
    await feed(second.source, 400);
    assert.equal(budget.usedBytes, 2_800);
    assert.deepEqual(second.reasons, []);
    // 500 more does not fit: the second copy goes, with everything it held.
    await feed(second.source, 500);
    assert.deepEqual(second.reasons, ['listener_budget_full']);
    assert.equal(budget.usedBytes, 2_000);
    second.source.end();
    first.source.end();
    await Promise.all([first.recorder.ended(), second.recorder.ended()]);
    // The body still streamed past: counted, not kept.
    assert.equal(second.recorder.bytes, 1_300);
    assert.equal(second.recorder.replayable, false);
    assert.equal(first.recorder.replayable, true);
    first.recorder.release();
    first.recorder.release();
    second.recorder.release();
    assert.equal(budget.usedBytes, 0);
    assert.equal(first.recorder.replayable, false);
  });

  it('drops a copy over the per-request limit as request_too_large, whatever the budget', async () => {
    const budget = new BodyBufferBudget(1_000_000);
    const { source, recorder, reasons } = recording(budget, 1_000);
    await feed(source, 600, 600, 600);
    assert.deepEqual(reasons, ['request_too_large']);
    assert.equal(budget.usedBytes, 0);
    source.end();
    await recorder.ended();
    assert.equal(recorder.replayable, false);
  });

  it('keeps nothing after release, even if the body goes on', async () => {
    const budget = new BodyBufferBudget(10_000);
    const { source, recorder, reasons } = recording(budget);
    await feed(source, 500);
    recorder.release();
    await feed(source, 500);
    assert.equal(budget.usedBytes, 0);
    assert.deepEqual(reasons, []);
    source.end();
    await recorder.ended();
    assert.equal(recorder.replayable, false);
  });
});
