/**
 * The signaling node's SFU settings in the config transaction: nothing
 * changes at prepare or abort; commit puts room size and peer limits in
 * force and names the fields that take a restart, once per change from the
 * config in force; WHIP/WHEP transports get the incoming bitrate in force;
 * with no server running every config is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { defaultConfig, type MeshConfig } from '../../../src/config/index.js';
import { liveRtcSettings, sfuSettingsParticipant } from '../../../signaling/index.js';

type Live = { maxPeersPerRoom: number; peerLimits: MeshConfig['signaling']['peerLimits'] };

function setup(): { startup: MeshConfig; server: Live; warnings: string[] } {
  const startup = defaultConfig();
  const server: Live = {
    maxPeersPerRoom: startup.signaling.maxPeersPerRoom,
    peerLimits: startup.signaling.peerLimits,
  };
  return { startup, server, warnings: [] };
}

function candidateOf(startup: MeshConfig): MeshConfig {
  const next = structuredClone(startup);
  next.signaling.maxPeersPerRoom = startup.signaling.maxPeersPerRoom + 3;
  next.signaling.peerLimits = {
    ...startup.signaling.peerLimits,
    incomingBitrate: startup.signaling.peerLimits.incomingBitrate + 1000,
  };
  next.signaling.workers = startup.signaling.workers + 1;
  return next;
}

describe('SFU settings participant', () => {
  const participantFor = ({ startup, server, warnings }: ReturnType<typeof setup>) =>
    sfuSettingsParticipant(
      startup.signaling,
      () => server,
      pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) }),
    );

  it('changes nothing at prepare; commit sets room size and peer limits and logs restart-only fields', async () => {
    const state = setup();
    const before = structuredClone(state.server);
    const candidate = candidateOf(state.startup);
    const change = await participantFor(state).prepare(candidate);
    assert.deepEqual(state.server, before, 'prepare leaves the running server as it was');
    assert.equal(state.warnings.length, 0, 'prepare logs nothing');
    change.commit();
    assert.equal(state.server.maxPeersPerRoom, candidate.signaling.maxPeersPerRoom);
    assert.deepEqual(state.server.peerLimits, candidate.signaling.peerLimits);
    assert.equal(state.warnings.length, 1);
    const logged = JSON.parse(state.warnings[0] ?? '{}') as { fields?: string[] };
    assert.deepEqual(logged.fields, ['signaling.workers']);
  });

  it('abort leaves the running server and the log untouched', async () => {
    const state = setup();
    const before = structuredClone(state.server);
    const change = await participantFor(state).prepare(candidateOf(state.startup));
    await change.abort();
    assert.deepEqual(state.server, before);
    assert.deepEqual(state.warnings, []);
  });

  it('warns about a restart-only change once, not again at later commits that keep it', async () => {
    const state = setup();
    const participant = participantFor(state);
    const candidate = candidateOf(state.startup);
    (await participant.prepare(candidate)).commit();
    const later = structuredClone(candidate);
    later.signaling.maxPeersPerRoom += 1;
    (await participant.prepare(later)).commit();
    assert.equal(state.server.maxPeersPerRoom, later.signaling.maxPeersPerRoom);
    assert.equal(state.warnings.length, 1, 'the second commit changes no restart-only field');
    (await participant.prepare(state.startup)).commit();
    assert.equal(state.warnings.length, 2, 'changing workers back is a change again');
  });

  it('WHIP/WHEP transports get the incoming bitrate of the peer limits in force', async () => {
    const state = setup();
    const rtc = liveRtcSettings(state.startup.signaling, () => state.server.peerLimits);
    assert.equal(rtc.maxIncomingBitrate, state.startup.signaling.peerLimits.incomingBitrate);
    const candidate = candidateOf(state.startup);
    (await participantFor(state).prepare(candidate)).commit();
    assert.equal(rtc.maxIncomingBitrate, candidate.signaling.peerLimits.incomingBitrate);
    assert.equal(rtc.listenIp, state.startup.signaling.rtcListenIp, 'addresses stay at start-up');
  });

  it('refuses every config when no server runs (not started, or stopping)', async () => {
    const state = setup();
    const participant = sfuSettingsParticipant(
      state.startup.signaling,
      () => undefined,
      pino({ level: 'silent' }),
    );
    await assert.rejects(participant.prepare(candidateOf(state.startup)), /no signaling server/);
  });
});
