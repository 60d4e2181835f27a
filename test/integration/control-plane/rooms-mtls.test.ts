/**
 * SFU rooms over the control plane's mutual TLS (issue 18): two scripted
 * signaling nodes with certificates of the mesh CA (their SPIFFE IDs from
 * two service accounts) share room r1. The SIGNALING_NODE and PIPE bodies
 * they get name each node under the SPIFFE ID of the certificate it
 * registered with (what a node checks a key came for, and what the cascade
 * link accepts the peer under), and each node's key reaches the other.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pipeResourceName } from '../../../src/config/index.js';
import { waitFor } from '../../helpers/process.js';
import {
  certified,
  channelCredentials,
  proxyId,
  startSecurePlane,
  type SecurePlane,
} from './mtls-harness.js';
import { ScriptedSignaling } from './rooms-scripted-signaling.js';

const HEARTBEAT_MS = 500;
const PIPE_R1 = pipeResourceName('r1', 'sig-a', 'sig-b');

describe('SFU rooms over mutual TLS', () => {
  let secure: SecurePlane;
  const nodes: ScriptedSignaling[] = [];
  const ids = { 'sig-a': proxyId('signaling-a'), 'sig-b': proxyId('signaling-b') };

  before(async () => {
    secure = await startSecurePlane();
    for (const [id, spiffe] of Object.entries(ids)) {
      const certificate = await certified(secure, spiffe, id);
      const node = new ScriptedSignaling({
        id,
        grpc: secure.target,
        heartbeatIntervalMs: HEARTBEAT_MS,
        listen: `127.0.0.${nodes.length + 11}:8080`,
        cascade: `127.0.0.${nodes.length + 11}:8444`,
        credentials: channelCredentials(secure.bundle, certificate),
      });
      await node.connect();
      nodes.push(node);
    }
    for (const node of nodes) node.reportRooms([{ room: 'r1', peers: 1, producers: 1 }]);
  });

  after(async () => {
    for (const node of nodes) node.close();
    await secure.close();
  });

  it('names each node under its certificate’s SPIFFE ID and relays each key to the other', async () => {
    const [a, b] = nodes;
    assert.ok(a && b);
    await waitFor(
      () => (a.pipes().has(PIPE_R1) && b.pipes().has(PIPE_R1) ? true : undefined),
      15_000,
      () => 'PIPE r1 at both nodes (after the placement grace)',
    );
    const pipe = a.pipes().get(PIPE_R1);
    assert.ok(pipe);
    assert.equal(pipe.a.identity, ids['sig-a']);
    assert.equal(pipe.b.identity, ids['sig-b']);
    assert.equal(b.signalingNodeOf('sig-a')?.identity, ids['sig-a']);
    assert.equal(a.signalingNodeOf('sig-b')?.identity, ids['sig-b']);
    const keyOf = (last: number) => ({
      pipeId: PIPE_R1,
      address: `127.0.0.${last}:40000`,
      srtpCryptoSuite: 'AEAD_AES_256_GCM',
      srtpKeyBase64: randomBytes(44).toString('base64'),
    });
    const [fromA, fromB] = [keyOf(11), keyOf(12)];
    a.reportPipes([fromA]);
    b.reportPipes([fromB]);
    const atA = await waitFor(
      () => a.pipes().get(PIPE_R1)?.b.srtp,
      5_000,
      () => 'sig-b key at sig-a',
    );
    const atB = await waitFor(
      () => b.pipes().get(PIPE_R1)?.a.srtp,
      5_000,
      () => 'sig-a key at sig-b',
    );
    assert.equal(atA.keyBase64, fromB.srtpKeyBase64);
    assert.equal(atB.keyBase64, fromA.srtpKeyBase64);
  });
});
