/**
 * Streams per node (proxy.maxStreams): the slots themselves, and a StreamPath
 * holding one while its source runs. A path that would start a source at
 * the maximum is refused with StreamLimitError (DESCRIBE), or addViewer
 * says no (PLAY), and builds no source; a publisher's RECORD is refused the
 * same way; an always-on path starts anyway; a source that stops (linger,
 * publisher gone, path closed) gives its slot back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type {
  MediaSource,
  SourceListener,
  SourceState,
} from '../../../src/media/source/media-source.js';
import {
  StreamLimitError,
  StreamPath,
  type PathOptions,
  type PathViewer,
} from '../../../rtp-proxy/media/rtsp/stream-path.js';
import { StreamSlots } from '../../../rtp-proxy/media/rtsp/stream-slots.js';
import { waitFor } from '../../helpers/process.js';

class IdleSource implements MediaSource {
  state: SourceState = 'idle';
  readonly transport = null;
  readonly reconnects = 0;
  readonly lastError = null;
  listener: SourceListener | undefined;
  start(listener: SourceListener): void {
    this.listener = listener;
  }
  close(): Promise<void> {
    this.state = 'closed';
    return Promise.resolve();
  }
}

const viewer: PathViewer = {
  id: 'v',
  tracks: new Set([0]),
  sendRtp: () => true,
  sendRtcp: () => undefined,
};

function makePath(
  streams: StreamSlots,
  overrides: Partial<PathOptions> = {},
): { path: StreamPath; built: () => number } {
  let built = 0;
  const path = new StreamPath({
    name: 'cam',
    kind: 'camera',
    alwaysOn: false,
    lingerMs: 10,
    describeTimeoutMs: 50,
    log: pino({ level: 'silent' }),
    now: () => performance.now(),
    streams,
    createSource: () => {
      built += 1;
      return new IdleSource();
    },
    ...overrides,
  });
  return { path, built: () => built };
}

describe('StreamSlots', () => {
  it('gives slots up to the maximum, counts refusals, reads the maximum live', () => {
    let max = 2;
    const slots = new StreamSlots(() => max);
    const a = slots.take();
    const b = slots.take();
    assert.ok(a !== undefined && b !== undefined);
    assert.equal(slots.take(), undefined);
    assert.deepEqual([slots.carried, slots.refused], [2, 1]);
    a.release();
    a.release();
    assert.equal(slots.carried, 1, 'a second release changes nothing');
    max = 1;
    assert.equal(slots.take(), undefined);
    slots.takeAnyway();
    assert.deepEqual([slots.carried, slots.refused], [2, 2]);
  });
});

describe('StreamPath with stream slots', () => {
  it('refuses to start a source at the maximum; the slot comes back when the running one stops', async () => {
    const slots = new StreamSlots(() => 1);
    const one = makePath(slots);
    const two = makePath(slots);
    assert.equal(one.path.addViewer(viewer), true);
    assert.equal(slots.carried, 1);

    await assert.rejects(two.path.describe(), StreamLimitError);
    assert.equal(two.path.addViewer(viewer), false);
    assert.equal(two.path.viewerCount, 0);
    assert.equal(two.built(), 0, 'no source built for a refused stream');
    assert.equal(slots.refused, 2);
    // Another viewer of the running stream costs no slot.
    const second: PathViewer = { ...viewer, id: 'w' };
    assert.equal(one.path.addViewer(second), true);
    assert.equal(slots.refused, 2);

    // Its viewers leave: the source lingers 10 ms, stops, and frees the slot.
    one.path.removeViewer(viewer);
    one.path.removeViewer(second);
    await waitFor(() => (slots.carried === 0 ? true : undefined), 2_000);
    assert.equal(two.path.addViewer(viewer), true);
    assert.equal(slots.carried, 1);
    await one.path.close();
    await two.path.close();
    assert.equal(slots.carried, 0, 'a closed path holds no slot');
  });

  it('starts an always-on source over the maximum, and refuses a publisher at it', async () => {
    const slots = new StreamSlots(() => 1);
    const always = makePath(slots, { alwaysOn: true });
    const again = makePath(slots, { alwaysOn: true });
    assert.deepEqual([always.built(), again.built(), slots.carried], [1, 1, 2]);
    const publisherPath = new StreamPath({
      name: 'live',
      kind: 'publisher',
      alwaysOn: false,
      lingerMs: 0,
      describeTimeoutMs: 50,
      log: pino({ level: 'silent' }),
      now: () => performance.now(),
      streams: slots,
    });
    const publisher = new IdleSource();
    assert.throws(() => publisherPath.attachPublisher(publisher), StreamLimitError);
    await again.path.close();
    await always.path.close();
    // Room again: the publisher attaches, and its end gives the slot back.
    publisherPath.attachPublisher(publisher);
    assert.equal(slots.carried, 1);
    publisher.listener?.down('teardown');
    assert.equal(slots.carried, 0);
  });
});
