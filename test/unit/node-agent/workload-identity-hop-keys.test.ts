/**
 * Hop keys bound to identity: a MEDIA_KEY body that names this node's end
 * with another SPIFFE ID than the node's own is refused by name (the
 * update's NACK), counted as identity_mismatch, and never held, so its key
 * is never used; the reason quotes the identities, not the key. A body that
 * names this node's own identity, or none (a control plane without mTLS),
 * is held; a node without an identity refuses any body that names one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { hopResource, hopResourceName, type HopBody } from '../../../src/config/index.js';
import { MeshState } from '../../../src/node-agent/index.js';
import type { ResourceUpdate } from '../../../src/protocol/mesh/index.js';
import { generateHopKey } from '../../../src/protocol/srtp/index.js';
import { at } from '../../helpers/defined.js';

const OWN = 'spiffe://streammesh.test/ns/default/sa/camera-proxy';
const OTHER = 'spiffe://streammesh.test/ns/default/sa/billing';
const PEER = 'spiffe://streammesh.test/ns/default/sa/edge-proxy';

function hop(sender: string, receiver: string, identities: Partial<HopBody>): HopBody {
  const session = 'camera/door';
  const hopId = hopResourceName(session, sender, receiver);
  return {
    hopId,
    session,
    sender,
    receiver,
    senderAddress: '127.0.0.1:5000',
    receiverAddress: '127.0.0.2:6000',
    keys: [generateHopKey({ hopId, epoch: 1, notAfter: Date.now() + 3_600_000 })],
    sendEpoch: 1,
    ...identities,
  };
}

function update(body: HopBody): ResourceUpdate {
  const resource = hopResource(body);
  return {
    nonce: 'n',
    systemVersion: 'sv',
    resources: [
      {
        type: resource.type,
        name: resource.name,
        version: resource.version,
        order: resource.order,
        bodyJson: JSON.stringify(resource.body),
      },
    ],
    removed: [],
  };
}

async function refusedCount(metrics: Registry, reason: string): Promise<number> {
  const metric = await metrics.getSingleMetric('streammesh_node_hop_keys_refused_total')?.get();
  return metric?.values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

function node(id: string, identity: string | undefined): { state: MeshState; metrics: Registry } {
  const metrics = new Registry();
  return { state: new MeshState(id, { ownIdentity: () => identity, metrics }), metrics };
}

describe('hop keys bound to identity', () => {
  it('refuses a hop naming this sender with another identity, by name, counted, key unused', async () => {
    const { state, metrics } = node('proxy-a', OWN);
    const body = hop('proxy-a', 'proxy-b', { senderIdentity: OTHER, receiverIdentity: PEER });
    const staged = state.stage(update(body));
    assert.equal(staged.issues.length, 1);
    const issue = at(staged.issues, 0);
    assert.equal(issue.type, 'MEDIA_KEY');
    assert.equal(issue.name, body.hopId);
    assert.match(issue.reason, /sender identity "spiffe:\/\/.*\/sa\/billing" is not this node's/);
    for (const key of body.keys) assert.ok(!issue.reason.includes(key.key), 'no key quoted');
    assert.equal(await refusedCount(metrics, 'identity_mismatch'), 1);
    assert.equal(state.hops.size, 0, 'nothing held');
  });

  it('refuses a hop naming this receiver with another identity', async () => {
    const { state, metrics } = node('proxy-b', OWN);
    const body = hop('proxy-a', 'proxy-b', { senderIdentity: PEER, receiverIdentity: OTHER });
    const staged = state.stage(update(body));
    assert.match(staged.issues[0]?.reason ?? '', /receiver identity .* is not this node's/);
    assert.equal(await refusedCount(metrics, 'identity_mismatch'), 1);
  });

  it("holds a hop that names this node's own identity, or none", async () => {
    for (const identities of [{ senderIdentity: OWN, receiverIdentity: PEER }, {}]) {
      const { state, metrics } = node('proxy-a', OWN);
      const staged = state.stage(update(hop('proxy-a', 'proxy-b', identities)));
      assert.deepEqual(staged.issues, []);
      state.commit(staged);
      assert.equal(state.hops.sending().length, 1);
      assert.equal(await refusedCount(metrics, 'identity_mismatch'), 0);
    }
  });

  it("does not judge the other end's identity (that node checks its own)", () => {
    const { state } = node('proxy-a', OWN);
    const staged = state.stage(
      update(hop('proxy-a', 'proxy-b', { senderIdentity: OWN, receiverIdentity: OTHER })),
    );
    assert.deepEqual(staged.issues, []);
  });

  it('a node without an identity (no mTLS) refuses a body that names one for it', async () => {
    const { state, metrics } = node('proxy-a', undefined);
    const staged = state.stage(update(hop('proxy-a', 'proxy-b', { senderIdentity: OWN })));
    assert.match(staged.issues[0]?.reason ?? '', /no workload identity/);
    assert.equal(await refusedCount(metrics, 'identity_mismatch'), 1);
  });

  it('counts the other refusals by their own reasons', async () => {
    const { state, metrics } = node('proxy-c', OWN);
    state.stage(update(hop('proxy-a', 'proxy-b', {})));
    assert.equal(await refusedCount(metrics, 'not_this_node'), 1);
    const broken = update(hop('proxy-c', 'proxy-b', {}));
    const [resource] = broken.resources;
    assert.ok(resource !== undefined);
    resource.bodyJson = '{';
    state.stage(broken);
    assert.equal(await refusedCount(metrics, 'invalid_body'), 1);
  });
});
