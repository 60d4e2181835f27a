/**
 * `streammesh drain` against a real control plane process
 * (`streammesh control-plane --config FILE`), its admin token in a private
 * state directory as `up` keeps it, and a scripted proxy registered over
 * gRPC. The command finds the admin address and the token from the same
 * config and state directory, prints one line and exits 0; the control
 * plane then shows the node draining until the printed time. An unknown
 * node, a bad deadline and a control plane that does not answer are one
 * line on stderr and exit 2.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getJson, waitReady } from '../../helpers/http.js';
import { writeTempConfig } from '../../helpers/mesh-config.js';
import { freePort } from '../../helpers/ports.js';
import { runStreammesh, startStreammesh, waitFor, type Running } from '../../helpers/process.js';
import { ScriptedProxy } from './scripted-proxy.js';

const HEARTBEAT_MS = 200;

interface NodeView {
  readonly id: string;
  readonly draining: { readonly since: string; readonly deadline: string } | null;
}

function configText(adminPort: number, grpcPort: number): string {
  return [
    'logLevel: warn',
    'controlPlane:',
    `  admin: 127.0.0.1:${adminPort}`,
    `  grpc: 127.0.0.1:${grpcPort}`,
    `  heartbeatIntervalMs: ${HEARTBEAT_MS}`,
    // The scripted proxy speaks plaintext gRPC: this test is about the command.
    '  mtls: false',
    '',
  ].join('\n');
}

describe('streammesh drain against a real control plane', () => {
  const stateHome = mkdtempSync(join(tmpdir(), 'streammesh-state-'));
  // The token comes from the file the control plane creates, as on a user's machine.
  const env: Record<string, string> = { XDG_STATE_HOME: stateHome, STREAMMESH_ADMIN_TOKEN: '' };
  let controlPlane: Running;
  let proxy: ScriptedProxy;
  let configFile: string;
  let adminUrl: string;

  before(async () => {
    const adminPort = await freePort();
    const grpcPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    configFile = writeTempConfig(configText(adminPort, grpcPort));
    controlPlane = startStreammesh(['control-plane', '--config', configFile], env);
    await waitReady(adminUrl, () => controlPlane.stderr(), 15_000);
    proxy = new ScriptedProxy({
      id: 'proxy-a',
      grpc: `127.0.0.1:${grpcPort}`,
      hopAddress: '127.0.0.1:9',
      heartbeatIntervalMs: HEARTBEAT_MS,
    });
    await proxy.connect();
  });

  after(async () => {
    proxy.close();
    await controlPlane.stop('SIGTERM', 5_000);
  });

  it('drains a registered node and prints until when', async () => {
    const started = Date.now();
    const result = await runStreammesh(
      ['drain', 'proxy-a', '--deadline', '2m', '--config', configFile],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    const match = /^proxy-a draining until (\S+)\n$/.exec(result.stdout);
    assert.ok(match?.[1], result.stdout);
    const deadlineMs = Date.parse(match[1]);
    assert.ok(deadlineMs >= started + 120_000 && deadlineMs <= Date.now() + 120_000);
    const nodes = (await getJson<{ nodes: NodeView[] }>(`${adminUrl}/nodes`)).body.nodes;
    assert.equal(nodes.find(({ id }) => id === 'proxy-a')?.draining?.deadline, match[1]);
    await waitFor(
      () =>
        proxy.updates.some(({ update }) => update.drainDeadlineMs === deadlineMs)
          ? true
          : undefined,
      5_000,
      () => 'the node told its deadline',
    );
  });

  it('exits 2 with one line for an unknown node, a bad deadline, an unreachable control plane', async () => {
    const unknown = await runStreammesh(['drain', 'proxy-nobody', '--config', configFile], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^streammesh drain: no node proxy-nobody is registered at .+\n$/);

    const badDeadline = await runStreammesh(
      ['drain', 'proxy-a', '--deadline', '2d', '--config', configFile],
      env,
    );
    assert.equal(badDeadline.code, 2);
    assert.match(badDeadline.stderr, /^streammesh drain: bad --deadline "2d"[^\n]*\n$/);

    const nobodyPort = await freePort();
    const unreachable = await runStreammesh(
      ['drain', 'proxy-a', '--config', writeTempConfig(configText(nobodyPort, await freePort()))],
      env,
    );
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /^streammesh drain: cannot reach [^\n]*\n$/);
    assert.equal(unreachable.stdout, '');
  });
});
