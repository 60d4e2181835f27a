import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PrepareGate, type StagedChange } from '../../../src/node-agent/index.js';

class ClosedError extends Error {}

function gate(): PrepareGate {
  return new PrepareGate({
    name: 'test',
    closedError: () => new ClosedError('closed'),
    onReleaseError: () => undefined,
  });
}

/** A staged change that records what happened to it. */
function staged(events: string[], label: string): StagedChange {
  return {
    commit: () => {
      events.push(`commit ${label}`);
    },
    release: () => {
      events.push(`release ${label}`);
      return Promise.resolve();
    },
  };
}

describe('prepare gate', () => {
  it('refuses a second prepare started before the first settles, then takes the next', async () => {
    const g = gate();
    const events: string[] = [];
    let finishStage = (): void => undefined;
    const first = g.prepare(
      () =>
        new Promise<StagedChange>((resolve) => {
          finishStage = () => resolve(staged(events, 'a'));
        }),
    );
    await assert.rejects(
      g.prepare(() => Promise.resolve(staged(events, 'b'))),
      /test: a prepared config is neither committed nor aborted/,
    );
    finishStage();
    const change = await first;
    // Still pending until committed or aborted.
    await assert.rejects(g.prepare(() => Promise.resolve(staged(events, 'c'))));
    change.commit();
    change.commit();
    await (await g.prepare(() => Promise.resolve(staged(events, 'd')))).abort();
    assert.deepEqual(events, ['commit a', 'release d']);
  });

  it('frees the slot when staging fails', async () => {
    const g = gate();
    await assert.rejects(
      g.prepare(() => Promise.reject(new Error('cannot bind'))),
      /cannot bind/,
    );
    const events: string[] = [];
    (await g.prepare(() => Promise.resolve(staged(events, 'x')))).commit();
    assert.deepEqual(events, ['commit x']);
  });

  it('releases what was staged around a close instead of putting it in force', async () => {
    const g = gate();
    const events: string[] = [];
    // close() while staging: released, and the prepare refused.
    await assert.rejects(
      g.prepare(() => {
        g.close();
        return Promise.resolve(staged(events, 'during'));
      }),
      ClosedError,
    );
    assert.deepEqual(events, ['release during']);
    assert.equal(g.closed, true);
    await assert.rejects(
      g.prepare(() => Promise.resolve(staged(events, 'after'))),
      ClosedError,
    );
    assert.deepEqual(events, ['release during'], 'nothing staged after close');
  });

  it('releases at commit a change prepared before close()', async () => {
    const g = gate();
    const events: string[] = [];
    const change = await g.prepare(() => Promise.resolve(staged(events, 'early')));
    g.close();
    change.commit();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, ['release early']);
  });
});
