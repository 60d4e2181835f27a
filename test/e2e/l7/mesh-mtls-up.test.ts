/**
 * Proxy-to-proxy mutual TLS in the real process (issue 17): `streammesh up`
 * on its embedded default (mTLS on, the mesh CA in a temp state directory),
 * with one proxy whose L7 config sends a plaintext listener's requests to a
 * mesh cluster that points at its own mesh listener. So the certificate the
 * node got from the control plane travels from MeshNode to the L7 thread,
 * is presented on both ends of the hop, and the mesh listener's policy and
 * the upstream both see the proxy's own SPIFFE ID
 * (spiffe://streammesh.local/ns/default/sa/streammesh-proxy by default).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { meshUp, type MeshUp } from '../../helpers/mesh-up.js';
import { freePort } from '../../helpers/ports.js';
import { send, startBackend, type Backend } from '../../helpers/l7-harness.js';

const PROXY_ID = 'spiffe://streammesh.local/ns/default/sa/streammesh-proxy';

describe('mesh mTLS between L7 listeners of a running proxy', { timeout: 60_000 }, () => {
  const state = mkdtempSync(join(tmpdir(), 'streammesh-l7-mtls-'));
  let backend: Backend;
  let mesh: MeshUp | undefined;
  let local: number;
  let meshPort: number;

  before(async () => {
    backend = await startBackend('app');
    local = await freePort();
    meshPort = await freePort((port) => port !== local);
    const config = [
      'logLevel: warn',
      'proxy:',
      '  http:',
      '    listeners:',
      `      - { name: local, listen: "127.0.0.1:${local}" }`,
      `      - name: mesh`,
      `        listen: "127.0.0.1:${meshPort}"`,
      '        tls: { mode: mesh }',
      `        authorization: { default: deny, rules: [{ action: allow, from: ["${PROXY_ID}"], paths: [/allowed] }] }`,
      '    routes:',
      '      - { name: to-mesh, listener: local, match: { path: { prefix: / } }, action: { cluster: self } }',
      '      - { name: to-app, listener: mesh, match: { path: { prefix: / } }, action: { cluster: app } }',
      '    clusters:',
      `      - { name: self, endpoints: ["127.0.0.1:${meshPort}"], http2: true, tls: { mode: mesh, spiffeIds: ["${PROXY_ID}"] } }`,
      `      - { name: app, endpoints: ["${backend.address}"] }`,
      '',
    ].join('\n');
    mesh = await meshUp(writeTempConfig(config), { XDG_STATE_HOME: state });
  });

  after(async () => {
    await mesh?.stop();
    await backend.close();
    rmSync(state, { recursive: true, force: true });
  });

  it('carries a request over mTLS with the certificate the node was issued', async () => {
    const answer = await send(local, {
      host: 'app',
      path: '/allowed/1',
      headers: { 'x-streammesh-peer-identity': 'spiffe://streammesh.local/ns/default/sa/forged' },
    });
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(backend.seen.at(-1)?.headers['x-streammesh-peer-identity'], PROXY_ID);
    assert.equal(backend.seen.at(-1)?.headers['x-forwarded-proto'], 'https');
  });

  it("applies the mesh listener's policy: another path is denied, counted", async () => {
    const seen = backend.seen.length;
    const answer = await send(local, { host: 'app', path: '/other' });
    assert.equal(answer.status, 403);
    assert.equal(backend.seen.length, seen);
    const metrics = (await mesh?.metrics()) ?? '';
    assert.match(
      metrics,
      /streammesh_http_authorization_denied_total\{[^}]*listener="mesh"[^}]*rule="default"[^}]*\} 1/,
    );
  });
});
