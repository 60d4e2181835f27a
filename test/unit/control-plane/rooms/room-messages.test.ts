/**
 * checkRoomReports and checkPipeEndpoints: what a signaling node says of
 * its rooms and pipe ends is taken whole or dropped whole, with a reason
 * that is a fixed label (never a value from the message, so never a key);
 * generated hostile sets never throw.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  checkPipeEndpoints,
  checkRoomReports,
  parsePipeId,
  registeredHostsOf,
} from '../../../../src/control-plane/config-push/index.js';
import {
  MAX_PIPE_ENDPOINTS,
  MAX_ROOM_REPORTS,
  type PipeEndpoint,
} from '../../../../src/protocol/mesh/index.js';

const rooms = (...list: { room: string; peers: number; producers: number }[]) => ({
  sentAtMs: 1,
  rooms: list,
});
const key = (): string => randomBytes(44).toString('base64');
const end = (pipeId: string, overrides: Partial<PipeEndpoint> = {}): PipeEndpoint => ({
  pipeId,
  address: '127.0.0.11:40000',
  srtpCryptoSuite: 'AEAD_AES_256_GCM',
  srtpKeyBase64: key(),
  ...overrides,
});
const pipes = (...endpoints: PipeEndpoint[]) => ({ sentAtMs: 1, endpoints });

describe('checkRoomReports', () => {
  it('takes a whole set of good rooms', () => {
    const set = [
      { room: 'r1', peers: 3, producers: 2 },
      { room: 'Room_2.b~c-d', peers: 0, producers: 0 },
    ];
    assert.deepEqual(checkRoomReports(rooms(...set)), set);
    assert.deepEqual(checkRoomReports(rooms()), []);
  });

  it('drops a whole set for one bad room, by reason', () => {
    const good = { room: 'r1', peers: 1, producers: 0 };
    const cases: [unknown, string][] = [
      [{ room: '', peers: 1, producers: 0 }, 'bad_room'],
      [{ room: '../x', peers: 1, producers: 0 }, 'bad_room'],
      [{ room: 'a'.repeat(65), peers: 1, producers: 0 }, 'bad_room'],
      [{ room: 'r2', peers: -1, producers: 0 }, 'bad_count'],
      [{ room: 'r2', peers: 1.5, producers: 0 }, 'bad_count'],
      [{ room: 'r2', peers: 1, producers: Number.NaN }, 'bad_count'],
      [{ room: 'r2', peers: 1e9, producers: 0 }, 'bad_count'],
      [good, 'duplicate_room'],
    ];
    for (const [bad, reason] of cases) {
      assert.equal(checkRoomReports(rooms(good, bad as typeof good)), reason, JSON.stringify(bad));
    }
    const many = Array.from({ length: MAX_ROOM_REPORTS + 1 }, (_, i) => ({
      room: `r${i}`,
      peers: 1,
      producers: 0,
    }));
    assert.equal(checkRoomReports(rooms(...many)), 'too_many');
    assert.equal(checkRoomReports(rooms(...many.slice(1))).length, MAX_ROOM_REPORTS);
  });

  it('caps one node’s set at maxRooms (the per-node cap), never above MAX_ROOM_REPORTS', () => {
    const set = Array.from({ length: 21 }, (_, i) => ({ room: `r${i}`, peers: 1, producers: 0 }));
    assert.equal(checkRoomReports(rooms(...set), 20), 'too_many');
    assert.equal(checkRoomReports(rooms(...set.slice(1)), 20).length, 20);
    const many = Array.from({ length: MAX_ROOM_REPORTS + 1 }, (_, i) => ({
      room: `r${i}`,
      peers: 1,
      producers: 0,
    }));
    assert.equal(checkRoomReports(rooms(...many), 10 * MAX_ROOM_REPORTS), 'too_many');
  });
});

describe('checkPipeEndpoints', () => {
  const pipeId = 'pipe/r1/sig-a~sig-b';

  it('takes a node’s own ends, with the room the pipe id names', () => {
    const given = end(pipeId);
    const checked = checkPipeEndpoints('sig-b', pipes(given));
    assert.deepEqual(checked, [
      {
        pipeId,
        room: 'r1',
        address: given.address,
        srtp: { cryptoSuite: 'AEAD_AES_256_GCM', keyBase64: given.srtpKeyBase64 },
      },
    ]);
    assert.deepEqual(
      checkPipeEndpoints('sig-a', pipes(end('pipe/r1/sig-a~sig-b', { address: '[::1]:5' }))).length,
      1,
    );
  });

  it('drops a whole set for one bad end, by a reason that never holds the key', () => {
    const cases: [PipeEndpoint, string][] = [
      [end('pipe/r1/sig-b~sig-c'), 'not_own_pipe'],
      [end('pipe/r1/sig-b~sig-a'), 'bad_pipe_id'],
      [end('pipe/r1/sig-a'), 'bad_pipe_id'],
      [end('pipe/../sig-a~sig-b'), 'bad_pipe_id'],
      [end('pipe/r1/sig-a~sig-b/x'), 'bad_pipe_id'],
      [end('pipe/r1/SIG-A~sig-b'), 'bad_pipe_id'],
      [end(pipeId, { address: '127.0.0.11' }), 'bad_address'],
      [end(pipeId, { address: '127.0.0.11:0' }), 'bad_address'],
      [end(pipeId, { address: 'x'.repeat(300) + ':1' }), 'bad_address'],
      [end(pipeId, { srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80' }), 'bad_suite'],
      [end(pipeId, { srtpKeyBase64: key().slice(0, 59) }), 'bad_key'],
      [end(pipeId, { srtpKeyBase64: `${key().slice(0, 59)}!` }), 'bad_key'],
      [end(pipeId, { srtpKeyBase64: randomBytes(45).toString('base64').slice(0, 60) }), 'bad_key'],
    ];
    for (const [bad, reason] of cases) {
      const result = checkPipeEndpoints('sig-a', pipes(end(pipeId.replace('r1', 'r0')), bad));
      assert.equal(result, reason, bad.pipeId);
    }
    const twice = end(pipeId);
    assert.equal(checkPipeEndpoints('sig-a', pipes(twice, end(pipeId))), 'duplicate_pipe');
    const many = Array.from({ length: MAX_PIPE_ENDPOINTS + 1 }, (_, i) =>
      end(`pipe/r${i}/sig-a~sig-b`),
    );
    assert.equal(checkPipeEndpoints('sig-a', pipes(...many)), 'too_many');
  });

  it('takes an end only on a host the node registered (bad_address otherwise)', () => {
    const hosts = registeredHostsOf({
      signaling: '127.0.0.11:8443',
      cascade: '[::1]:8444',
      signaling_url: 'https://SFU.example.com/base',
      rtc: '10.0.0.5',
      admin: '192.0.2.1:15103',
    });
    assert.deepEqual([...hosts].sort(), ['10.0.0.5', '127.0.0.11', '::1', 'sfu.example.com']);
    for (const address of ['127.0.0.11:40000', '[::1]:5', 'sfu.example.com:40000', '10.0.0.5:1']) {
      const result = checkPipeEndpoints('sig-a', pipes(end(pipeId, { address })), hosts);
      assert.ok(typeof result !== 'string', address);
    }
    for (const address of ['127.0.0.12:40000', 'victim.internal:5000', '192.0.2.1:40000']) {
      const set = pipes(end(pipeId.replace('r1', 'r0')), end(pipeId, { address }));
      assert.equal(checkPipeEndpoints('sig-a', set, hosts), 'bad_address', address);
    }
    // A wildcard listen address names no host; a node with none registered can name none.
    const wildcard = registeredHostsOf({ signaling: '0.0.0.0:8443', cascade: '[::]:8444' });
    assert.equal(wildcard.size, 0);
    assert.equal(checkPipeEndpoints('sig-a', pipes(end(pipeId)), wildcard), 'bad_address');
  });

  it('never throws on generated hostile ends, and a refusal is one of the labels', () => {
    const labels = new Set([
      'too_many',
      'bad_pipe_id',
      'not_own_pipe',
      'duplicate_pipe',
      'bad_address',
      'bad_suite',
      'bad_key',
    ]);
    const pick = <T>(list: readonly T[]): T => {
      const value = list[Math.floor(Math.random() * list.length)];
      if (value === undefined) throw new Error('empty list');
      return value;
    };
    const noise = (): string => randomBytes(Math.floor(Math.random() * 80)).toString('latin1');
    for (let i = 0; i < 2_000; i += 1) {
      const endpoint = end(pick([pipeId, 'pipe/r1/sig-a~sig-c', noise(), `pipe/${noise()}`]), {
        address: pick(['127.0.0.1:1', noise(), '[::1]:65535', '1.2.3.4:99999']),
        srtpCryptoSuite: pick(['AEAD_AES_256_GCM', noise()]),
        srtpKeyBase64: pick([key(), noise(), key().replace(/.$/, '\u0000')]),
      });
      const result = checkPipeEndpoints('sig-a', pipes(endpoint));
      if (typeof result === 'string') {
        assert.ok(labels.has(result), result);
        // A label is one of a fixed few; a noise key short enough to be part of one says nothing.
        if (endpoint.srtpKeyBase64.length >= 16)
          assert.ok(!result.includes(endpoint.srtpKeyBase64));
      } else {
        assert.equal(result.length, 1);
        assert.equal(parsePipeId(result[0]?.pipeId ?? '')?.room, result[0]?.room);
      }
    }
  });
});

describe('parsePipeId', () => {
  it('reads room and ends back from pipeResourceName, and nothing else', () => {
    assert.deepEqual(parsePipeId('pipe/r1/sig-a~sig-b'), { room: 'r1', a: 'sig-a', b: 'sig-b' });
    assert.equal(parsePipeId('pipe/r1/sig-b~sig-a'), undefined);
    assert.equal(parsePipeId('pipe/r1/sig-a~sig-a'), undefined);
    assert.equal(parsePipeId('camera/cam1'), undefined);
  });
});
