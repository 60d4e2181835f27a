/**
 * PIPE resources on a signaling node (issue 18): held beside the config and
 * put in force with their update. A pipe naming this node is held (its
 * update ACKed, no config transaction); one of two other nodes, one naming
 * this node's end with another SPIFFE ID (or with none, when it has one),
 * and one with a bad key are refused by name (the update NACKed, nothing held), counted by reason, and
 * no refusal quotes a key. Listeners get the whole set after each commit
 * that changed it, a removal included; a listener that throws does not turn
 * an update already in force into a NACK. The Hello returns the pipes with
 * their bodies.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import {
  parseConfigText,
  PIPE_SRTP_SUITE,
  pipeResource,
  pipeResourceName,
  ResourcesRefusedError,
  splitConfig,
  type PipeBody,
  type PipeEnd,
} from '../../../src/config/index.js';
import { MeshState, type NodeConfig } from '../../../src/node-agent/index.js';
import type { WireResource } from '../../../src/protocol/mesh/index.js';
import { at } from '../../helpers/defined.js';
import { countingNodeConfig, update, wire } from '../../helpers/resource-updates.js';

const OWN = 'spiffe://mesh.test/ns/default/sa/signaling-a';
const PEER = 'spiffe://mesh.test/ns/default/sa/signaling-b';
const OTHER = 'spiffe://mesh.test/ns/default/sa/billing';

const config = parseConfigText('signaling: { id: sig-a }', 'test');

const key = (): string => randomBytes(44).toString('base64');

function end(node: string, identity: string | null, filled: boolean): PipeEnd {
  return filled
    ? {
        node,
        identity,
        address: `127.0.0.${node === 'sig-a' ? 11 : 12}:40000`,
        srtp: { cryptoSuite: PIPE_SRTP_SUITE, keyBase64: key() },
      }
    : { node, identity };
}

function pipe(
  room: string,
  a: [string, string | null],
  b: [string, string | null],
  filled = true,
): PipeBody {
  return {
    pipeId: pipeResourceName(room, a[0], b[0]),
    room,
    a: end(a[0], a[1], filled),
    b: end(b[0], b[1], filled),
  };
}

const pipeWire = (body: PipeBody): WireResource => wire(pipeResource(body));

const configWire = (): WireResource[] => splitConfig(config).map(wire);

/** A signaling node's MeshState and NodeConfig, its config applied (one transaction). */
async function signalingNode(id: string, identity: string | undefined, log?: Logger) {
  const metrics = new Registry();
  const state = new MeshState(id, {
    ownIdentity: () => identity,
    metrics,
    ...(log === undefined ? {} : { log }),
  });
  const { node, prepares } = countingNodeConfig({ meshState: state, metrics });
  await node.apply(update('0', configWire()));
  return { state, node, metrics, prepares };
}

async function refusedCount(metrics: Registry, reason: string): Promise<number> {
  const metric = await metrics.getSingleMetric('streammesh_node_pipes_refused_total')?.get();
  return metric?.values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

/** Every key a body holds, to check that a refusal quotes none. */
const keysOf = (body: PipeBody): string[] =>
  [body.a.srtp?.keyBase64, body.b.srtp?.keyBase64].filter((k) => k !== undefined);

async function refusedBy(node: NodeConfig, refused: WireResource): Promise<string> {
  let reason = '';
  await assert.rejects(node.apply(update('2', [refused])), (error) => {
    assert.ok(error instanceof ResourcesRefusedError);
    const issue = at(error.resourceIssues, 0);
    assert.equal(error.resourceIssues.length, 1);
    assert.equal(issue.type, 'PIPE');
    assert.equal(issue.name, refused.name);
    reason = issue.reason;
    return true;
  });
  return reason;
}

describe('pipes on a signaling node', () => {
  it('holds a pipe naming this node under its own identity; the update runs no transaction', async () => {
    const { state, node, prepares } = await signalingNode('sig-a', OWN);
    assert.equal(prepares(), 1);
    const body = pipe('standup', ['sig-a', OWN], ['sig-b', PEER]);
    const acked = await node.apply(update('2', [pipeWire(body)]));
    assert.equal(prepares(), 1, 'a pipe alone prepares nothing');
    assert.deepEqual(
      acked.map((ref) => `${ref.type}/${ref.name}`),
      ['PIPE/pipe/standup/sig-a~sig-b'],
    );
    assert.deepEqual(state.pipes.get(body.pipeId), body);
    assert.deepEqual(state.pipes.list(), [body]);
    assert.deepEqual(state.pipes.views(), [
      {
        pipeId: body.pipeId,
        room: 'standup',
        peer: 'sig-b',
        ownAddress: body.a.address,
        peerAddress: body.b.address,
        ownKey: true,
        peerKey: true,
      },
    ]);
    for (const k of keysOf(body)) {
      assert.ok(!JSON.stringify(state.pipes.views()).includes(k), 'the view shows no key');
    }
  });

  it('holds a pipe whose ends name no identity (a control plane without mTLS), and one not filled in yet', async () => {
    const { state } = await signalingNode('sig-b', undefined);
    const bare = pipe('r1', ['sig-a', null], ['sig-b', null], false);
    const staged = state.stage(update('1', [pipeWire(bare)]));
    assert.deepEqual(staged.issues, []);
    state.commit(staged);
    assert.deepEqual(state.pipes.views()[0]?.ownKey, false);
    assert.equal(state.pipes.views()[0]?.peer, 'sig-a');
  });

  it('a node with an identity refuses a pipe that names none for it, counted, its key never held', async () => {
    const { state, node, metrics } = await signalingNode('sig-b', OWN);
    const body = pipe('r1', ['sig-a', PEER], ['sig-b', null]);
    const reason = await refusedBy(node, pipeWire(body));
    assert.match(reason, /names no identity for this node/);
    for (const k of keysOf(body)) assert.ok(!reason.includes(k), 'no key quoted');
    assert.equal(await refusedCount(metrics, 'identity_mismatch'), 1);
    assert.equal(state.pipes.get(body.pipeId), undefined);
  });

  it('refuses a pipe of two other nodes, counted as not_this_node', async () => {
    const { state, node, metrics } = await signalingNode('sig-c', OWN);
    const body = pipe('r1', ['sig-a', PEER], ['sig-b', OTHER]);
    const reason = await refusedBy(node, pipeWire(body));
    assert.match(reason, /a pipe of sig-a and sig-b, not of this node sig-c/);
    for (const k of keysOf(body)) assert.ok(!reason.includes(k), 'no key quoted');
    assert.equal(await refusedCount(metrics, 'not_this_node'), 1);
    assert.equal(state.pipes.size, 0, 'nothing held');
  });

  it("refuses a pipe naming this node's end with another identity, counted, its key never held", async () => {
    const { state, node, metrics } = await signalingNode('sig-b', OWN);
    const body = pipe('r1', ['sig-a', PEER], ['sig-b', OTHER]);
    const reason = await refusedBy(node, pipeWire(body));
    assert.match(reason, /identity for this node "spiffe:\/\/.*\/sa\/billing" is not this node's/);
    for (const k of keysOf(body)) assert.ok(!reason.includes(k), 'no key quoted');
    assert.equal(await refusedCount(metrics, 'identity_mismatch'), 1);
    assert.equal(state.pipes.get(body.pipeId), undefined);
  });

  it('a node without an identity (no mTLS) refuses a pipe that names one for it', async () => {
    const { node, metrics } = await signalingNode('sig-a', undefined);
    const reason = await refusedBy(node, pipeWire(pipe('r1', ['sig-a', OWN], ['sig-b', PEER])));
    assert.match(reason, /no workload identity/);
    assert.equal(await refusedCount(metrics, 'identity_mismatch'), 1);
  });

  it("does not judge the other end's identity (that node checks its own)", async () => {
    const { state } = await signalingNode('sig-a', OWN);
    const staged = state.stage(
      update('1', [pipeWire(pipe('r1', ['sig-a', OWN], ['sig-b', OTHER]))]),
    );
    assert.deepEqual(staged.issues, []);
  });

  it('refuses a bad key, a bad suite, a misnamed pipe and a body that is not JSON, quoting no key', async () => {
    const { state, node, metrics } = await signalingNode('sig-a', OWN);
    const good = pipe('r1', ['sig-a', OWN], ['sig-b', PEER]);
    const peerKey = good.b.srtp?.keyBase64 ?? '';
    const shortKey = peerKey.slice(0, 58);
    const cases: { body: unknown; name?: string; bodyJson?: string; expect: RegExp }[] = [
      {
        body: {
          ...good,
          b: { ...good.b, srtp: { cryptoSuite: PIPE_SRTP_SUITE, keyBase64: shortKey } },
        },
        expect: /44-byte key/,
      },
      {
        body: {
          ...good,
          b: { ...good.b, srtp: { cryptoSuite: PIPE_SRTP_SUITE, keyBase64: `${shortKey}!!` } },
        },
        expect: /base64/,
      },
      {
        body: {
          ...good,
          b: { ...good.b, srtp: { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80', keyBase64: peerKey } },
        },
        expect: /cryptoSuite/,
      },
      { body: good, name: pipeResourceName('r2', 'sig-a', 'sig-b'), expect: /pipeId/ },
      { body: good, bodyJson: JSON.stringify(good).slice(0, -3), expect: /^body is not JSON$/ },
    ];
    for (const { body, name, bodyJson, expect } of cases) {
      const refused: WireResource = {
        type: 'PIPE',
        name: name ?? good.pipeId,
        version: 'v',
        order: 0,
        bodyJson: bodyJson ?? JSON.stringify(body),
      };
      const reason = await refusedBy(node, refused);
      assert.match(reason, expect);
      for (const k of [peerKey, shortKey, good.a.srtp?.keyBase64 ?? '']) {
        assert.ok(!reason.includes(k), `no key quoted in "${reason}"`);
      }
    }
    assert.equal(await refusedCount(metrics, 'invalid_body'), cases.length);
    assert.equal(state.pipes.size, 0);
  });

  it('one refused pipe refuses its whole update: the good pipe beside it is not held either', async () => {
    const { state, node } = await signalingNode('sig-a', OWN);
    const good = pipe('r1', ['sig-a', OWN], ['sig-b', PEER]);
    const bad = pipe('r2', ['sig-a', OTHER], ['sig-b', PEER]);
    await assert.rejects(node.apply(update('1', [pipeWire(good), pipeWire(bad)])), (error) => {
      assert.ok(error instanceof ResourcesRefusedError);
      assert.deepEqual(
        error.resourceIssues.map(({ name }) => name),
        [bad.pipeId],
      );
      return true;
    });
    assert.equal(state.pipes.size, 0);
  });

  it('tells listeners the whole set after each change, a removal included, and not after none', async () => {
    const { state, node } = await signalingNode('sig-a', OWN);
    const seen: string[][] = [];
    const stop = state.pipes.onChange((pipes) => seen.push([...pipes.keys()]));
    const r1 = pipe('r1', ['sig-a', OWN], ['sig-b', PEER], false);
    const r2 = pipe('r2', ['sig-a', OWN], ['sig-c', PEER]);
    await node.apply(update('1', [pipeWire(r2), pipeWire(r1)]));
    assert.deepEqual(seen, [[r1.pipeId, r2.pipeId]]);

    await node.apply(update('2', [pipeWire(r1)]));
    assert.equal(seen.length, 1, 'the same version again is no change');

    const filled = pipe('r1', ['sig-a', OWN], ['sig-b', PEER]);
    await node.apply(update('3', [pipeWire(filled)]));
    assert.equal(seen.length, 2, 'an end filled in is a change');
    assert.deepEqual(state.pipes.get(r1.pipeId), filled);

    await node.apply(update('4', [], [{ type: 'PIPE', name: r1.pipeId, version: '' }]));
    assert.deepEqual(seen.at(-1), [r2.pipeId]);
    assert.equal(state.pipes.get(r1.pipeId), undefined);

    stop();
    await node.apply(update('5', [], [{ type: 'PIPE', name: r2.pipeId, version: '' }]));
    assert.equal(seen.length, 3, 'a stopped listener hears nothing');
    assert.equal(state.pipes.size, 0);
  });

  it('a listener that throws does not refuse an update already in force', async () => {
    const logged: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => logged.push(line) });
    const { state, node } = await signalingNode('sig-a', OWN, log);
    let later = 0;
    state.pipes.onChange(() => {
      throw new Error('listener bug');
    });
    state.pipes.onChange(() => (later += 1));
    const body = pipe('r1', ['sig-a', OWN], ['sig-b', PEER]);
    const acked = await node.apply(update('1', [pipeWire(body)]));
    assert.equal(acked.length, 1);
    assert.equal(later, 1, 'the next listener is still told');
    assert.equal(logged.length, 1);
    assert.match(at(logged, 0), /"message":"listener bug".*"msg":"BUG: a pipes listener threw"/);
    assert.equal(state.pipes.size, 1);
  });

  it('the Hello returns pipes with their bodies, keys included, within its byte budget', async () => {
    const { state } = await signalingNode('sig-a', OWN);
    const body = pipe('r1', ['sig-a', OWN], ['sig-b', PEER]);
    state.commit(state.stage(update('1', [pipeWire(body)])));
    const hello = state.wire();
    const pipes = hello.filter(({ type }) => type === 'PIPE');
    assert.equal(pipes.length, 1);
    assert.deepEqual(JSON.parse(at(pipes, 0).bodyJson) as PipeBody, body);
    assert.ok(
      state.wire(100).every(({ type }) => type !== 'PIPE'),
      'within its byte budget',
    );
  });
});
