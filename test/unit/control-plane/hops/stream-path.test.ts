/**
 * One stream's path from the proxies' stats reports: each hop's figures
 * come from the report of the node that measures them, and what a report
 * carries that is not of the expected shape is skipped, never shown.
 */
import type { HopStats } from '../../../../src/protocol/mesh/index.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hopResourceName } from '../../../../src/config/index.js';
import {
  hopStatsOf,
  streamHopsView,
  type HopView,
} from '../../../../src/control-plane/hops/index.js';

const SESSION = 'camera/cam1';
const HOP_AB = hopResourceName(SESSION, 'proxy-a', 'proxy-b');

const hop: HopView = {
  hopId: HOP_AB,
  session: SESSION,
  sender: 'proxy-a',
  receiver: 'proxy-b',
  senderAddress: '127.0.0.1:7000',
  receiverAddress: '127.0.0.1:7002',
  keys: [{ epoch: 1, notAfter: '2026-12-04T13:00:00.000Z' }],
  sendEpoch: 1,
  since: '2026-12-04T10:00:00.000Z',
  state: 'active',
};

function hopStats(role: HopStats['role'], figures: Partial<HopStats>): HopStats {
  return {
    hopId: HOP_AB,
    session: SESSION,
    role,
    peer: role === 'sender' ? 'proxy-b' : 'proxy-a',
    rtpPackets: 100,
    lossFraction: 0,
    jitterMs: 1,
    rttMs: null,
    drops: 0,
    ...figures,
  };
}

function track(path: string, figures: Record<string, number>) {
  return { path, track: 0, kind: 'video', upstream: 'playing', ...figures };
}

function report(id: string, stats: unknown) {
  return {
    id,
    role: 'ROLE_PROXY' as const,
    state: 'connected' as const,
    sentAt: '2026-12-04T10:00:00.000Z',
    receivedAt: '2026-12-04T10:00:00.000Z',
    stats,
  };
}

describe('stream path view', () => {
  it('camera -> owner (worst track), owner -> edge (receiver figures, sender rtt), viewers per proxy', () => {
    const view = streamHopsView({
      path: 'cam1',
      session: SESSION,
      owner: 'proxy-a',
      hops: [hop],
      reports: [
        report('proxy-a', {
          rtsp: [
            track('cam1', { packets: 500, lossFraction: 0.01, jitterMs: 3, viewers: 1 }),
            track('cam1', { packets: 90, lossFraction: 0.02, jitterMs: 2, viewers: 1 }),
            track('other', { packets: 1, lossFraction: 0.9, jitterMs: 90, viewers: 9 }),
          ],
          hops: [hopStats('sender', { rttMs: 12, lossFraction: 0.5, rtpPackets: 1 })],
        }),
        report('proxy-b', {
          rtsp: [track('cam1', { packets: 80, lossFraction: 0.2, jitterMs: 9, viewers: 2 })],
          hops: [
            hopStats('receiver', { lossFraction: 0.2, jitterMs: 9, rtpPackets: 80, drops: 3 }),
          ],
        }),
        report('proxy-c', { rtsp: [], hops: [] }),
      ],
    });
    assert.deepEqual(view, {
      path: 'cam1',
      session: SESSION,
      owner: 'proxy-a',
      hops: [
        {
          from: 'camera',
          to: 'proxy-a',
          kind: 'camera',
          lossFraction: 0.02,
          jitterMs: 2,
          packets: 90,
        },
        {
          from: 'proxy-a',
          to: 'proxy-b',
          kind: 'proxy',
          hopId: HOP_AB,
          lossFraction: 0.2,
          jitterMs: 9,
          rttMs: 12,
          packets: 80,
          drops: 3,
        },
        { from: 'proxy-a', to: 'viewers', kind: 'viewers', viewers: 1 },
        { from: 'proxy-b', to: 'viewers', kind: 'viewers', viewers: 2 },
      ],
    });
  });

  it('shows null figures where no report measured them', () => {
    const view = streamHopsView({
      path: 'cam1',
      session: SESSION,
      owner: 'proxy-a',
      hops: [hop],
      reports: [],
    });
    assert.deepEqual(view.hops, [
      {
        from: 'camera',
        to: 'proxy-a',
        kind: 'camera',
        lossFraction: null,
        jitterMs: null,
        packets: null,
      },
      {
        from: 'proxy-a',
        to: 'proxy-b',
        kind: 'proxy',
        hopId: HOP_AB,
        lossFraction: null,
        jitterMs: null,
        rttMs: null,
        packets: null,
        drops: null,
      },
    ]);
  });

  it('skips report entries that are not of the HopStats shape', () => {
    const good = hopStats('receiver', {});
    const entries: unknown[] = [
      good,
      null,
      'x',
      { ...good, role: 'both' },
      { ...good, lossFraction: -1 },
      { ...good, jitterMs: Number.NaN },
      { ...good, rtpPackets: '100' },
      { ...good, rttMs: 'soon' },
      { ...good, hopId: 7 },
    ];
    assert.deepEqual(hopStatsOf({ hops: entries }), [good]);
    assert.deepEqual(hopStatsOf({ hops: 'none' }), []);
    assert.deepEqual(hopStatsOf(null), []);
    assert.deepEqual(hopStatsOf([]), []);
  });
});
