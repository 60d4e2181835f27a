/**
 * SFU rooms over the control plane's mutual TLS (issue 18): two scripted
 * signaling nodes with certificates of the mesh CA (their SPIFFE IDs from
 * two service accounts) share room r1. The SIGNALING_NODE and PIPE bodies
 * they get name each node under the SPIFFE ID of the certificate it
 * registered with (what a node checks a key came for, and what the cascade
 * link accepts the peer under), and each node's key reaches the other.
 * The role is the certificate's (controlPlane.signalingIdentities): a
 * proxy's certificate cannot register or say Hello as a signaling node, nor
 * a signaling node's as a proxy (PERMISSION_DENIED, counted `wrong_role`),
 * and such a node never enters the signaling directory.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pipeResourceName } from '../../../src/config/index.js';
import { getText } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import {
  certified,
  channelCredentials,
  controlClient,
  metric,
  proxyId,
  startSecurePlane,
  type SecurePlane,
} from './mtls-harness.js';
import { keyedEndpoint, ScriptedSignaling } from './rooms-scripted-signaling.js';

const HEARTBEAT_MS = 500;
const PIPE_R1 = pipeResourceName('r1', 'sig-a', 'sig-b');
const REGISTER_REFUSED = 'streammesh_control_plane_register_refused_total';
const STREAM_REFUSED = 'streammesh_control_plane_refused_streams_total';

describe('SFU rooms over mutual TLS', () => {
  let secure: SecurePlane;
  const nodes: ScriptedSignaling[] = [];
  const ids = { 'sig-a': proxyId('signaling-a'), 'sig-b': proxyId('signaling-b') };

  before(async () => {
    secure = await startSecurePlane({ signalingIdentities: Object.values(ids) });
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
    const [fromA, fromB] = [
      keyedEndpoint(PIPE_R1, '127.0.0.11:40000'),
      keyedEndpoint(PIPE_R1, '127.0.0.12:40000'),
    ];
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

describe('SFU rooms over mutual TLS: the role is the certificate’s', () => {
  let secure: SecurePlane;
  const signalingId = proxyId('signaling-a');

  before(async () => {
    secure = await startSecurePlane({ signalingIdentities: [signalingId] });
  });

  after(async () => {
    await secure.close();
  });

  /** Registers a scripted node under `spiffe` as `role`: the error that refused it, or null. */
  async function registerAs(
    id: string,
    spiffe: string,
    role: 'ROLE_SIGNALING' | 'ROLE_PROXY',
  ): Promise<grpc.ServiceError | null> {
    const node = new ScriptedSignaling({
      id,
      grpc: secure.target,
      heartbeatIntervalMs: HEARTBEAT_MS,
      listen: '127.0.0.31:8080',
      cascade: '127.0.0.31:8444',
      role,
      credentials: channelCredentials(secure.bundle, await certified(secure, spiffe, id)),
    });
    try {
      await node.connect();
      return null;
    } catch (error) {
      return error as grpc.ServiceError;
    } finally {
      node.close();
    }
  }

  it('refuses a proxy’s certificate as a signaling node and a signaling one as a proxy', async () => {
    const before = await metric(secure, REGISTER_REFUSED, { reason: 'wrong_role' });
    const asSignaling = await registerAs('proxy-7', proxyId(), 'ROLE_SIGNALING');
    assert.equal(asSignaling?.code, grpc.status.PERMISSION_DENIED);
    const asProxy = await registerAs('sig-x', signalingId, 'ROLE_PROXY');
    assert.equal(asProxy?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(await metric(secure, REGISTER_REFUSED, { reason: 'wrong_role' }), before + 2);
    // The one it fits registers.
    assert.equal(await registerAs('sig-y', signalingId, 'ROLE_SIGNALING'), null);
    const nodes = await getNodes(secure);
    assert.deepEqual(
      nodes.map((node) => node.id).filter((id) => id === 'proxy-7' || id === 'sig-x'),
      [],
    );
  });

  it('refuses the Hello of a signaling node under a certificate of another role', async () => {
    const before = await metric(secure, STREAM_REFUSED, { reason: 'wrong_role' });
    assert.equal(await registerAs('sig-z', signalingId, 'ROLE_SIGNALING'), null);
    // Another certificate for the same node id, naming a proxy's SPIFFE ID.
    const client = controlClient(secure, await certified(secure, proxyId(), 'sig-z'));
    try {
      const code = await new Promise<grpc.status | undefined>((resolve) => {
        const stream = client.streamResources({ deadline: Date.now() + 5_000 });
        stream.on('data', () => {
          resolve(undefined);
          stream.cancel();
        });
        stream.on('error', (error: grpc.ServiceError) => resolve(error.code));
        stream.write({ hello: { id: 'sig-z', systemVersion: '', resources: [], placements: [] } });
      });
      assert.equal(code, grpc.status.PERMISSION_DENIED);
    } finally {
      client.close();
    }
    assert.equal(await metric(secure, STREAM_REFUSED, { reason: 'wrong_role' }), before + 1);
  });
});

async function getNodes(secure: SecurePlane): Promise<{ id: string; role: string }[]> {
  const { text } = await getText(`${secure.adminUrl}/nodes`);
  return (JSON.parse(text) as { nodes: { id: string; role: string }[] }).nodes;
}
