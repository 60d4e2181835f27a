import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../../src/config/index.js';
import {
  applyConfigTransaction,
  CommitFailedError,
  ConfigRefusedError,
  type ConfigParticipant,
} from '../../../src/node-agent/index.js';

/** A participant that records what happens to it, and refuses when told. */
function recorder(name: string, events: string[], refuse = false): ConfigParticipant {
  return {
    name,
    prepare: () => {
      events.push(`prepare ${name}`);
      if (refuse) return Promise.reject(new Error(`${name} cannot bind`));
      return Promise.resolve({
        commit: () => {
          events.push(`commit ${name}`);
        },
        abort: () => {
          events.push(`abort ${name}`);
          return Promise.resolve();
        },
      });
    },
  };
}

describe('config transaction', () => {
  const candidate = defaultConfig();

  it('commits every participant once all have prepared', async () => {
    const events: string[] = [];
    await applyConfigTransaction(
      [recorder('relay', events), recorder('rtsp', events), recorder('l7', events)],
      candidate,
    );
    assert.deepEqual(events, [
      'prepare relay',
      'prepare rtsp',
      'prepare l7',
      'commit relay',
      'commit rtsp',
      'commit l7',
    ]);
  });

  it('aborts the prepared ones in reverse order and commits none when one refuses', async () => {
    for (const refusing of ['relay', 'rtsp', 'l7']) {
      const events: string[] = [];
      const participants = ['relay', 'rtsp', 'l7'].map((name) =>
        recorder(name, events, name === refusing),
      );
      await assert.rejects(applyConfigTransaction(participants, candidate), (error: unknown) => {
        assert.ok(error instanceof ConfigRefusedError);
        assert.equal(error.participant, refusing);
        assert.match(error.message, new RegExp(`^${refusing}: ${refusing} cannot bind`));
        return true;
      });
      assert.ok(!events.some((event) => event.startsWith('commit')), events.join(', '));
      const prepared = participants.slice(
        0,
        participants.findIndex((p) => p.name === refusing),
      );
      assert.deepEqual(
        events.filter((event) => event.startsWith('abort')),
        prepared.map((p) => `abort ${p.name}`).reverse(),
      );
    }
  });

  it('runs every commit even when one throws, then reports it', async () => {
    const events: string[] = [];
    const broken: ConfigParticipant = {
      name: 'broken',
      prepare: () =>
        Promise.resolve({
          commit: () => {
            throw new Error('bug');
          },
          abort: () => Promise.resolve(),
        }),
    };
    await assert.rejects(
      applyConfigTransaction([broken, recorder('l7', events)], candidate),
      CommitFailedError,
    );
    assert.deepEqual(events, ['prepare l7', 'commit l7']);
  });
});
