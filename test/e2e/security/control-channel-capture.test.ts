/**
 * The control channel on the wire (issue 17): `streammesh up` on its
 * embedded default, with tshark capturing the control plane's gRPC port from
 * before the first node connects. What crosses it must be TLS from the first
 * byte: ClientHellos and application data records, and none of what a
 * plaintext gRPC channel would show — the HTTP/2 preface, the MeshControl
 * method names, the config's JSON bodies, the node ids.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { capturedTcpPayloads, countCaptured, startCapture } from '../../helpers/peers/tshark.js';
import { freePort } from '../../helpers/ports.js';
import { startStreammesh, type Running } from '../../helpers/process.js';

describe('the control channel is TLS on the wire (issue 17)', { timeout: 90_000 }, () => {
  const state = mkdtempSync(join(tmpdir(), 'streammesh-capture-'));
  let up: Running | undefined;

  after(async () => {
    await up?.stop('SIGINT', 15_000);
    rmSync(state, { recursive: true, force: true });
  });

  it('carries no plaintext between the nodes and the control plane', async () => {
    const grpcPort = await freePort();
    const capture = await startCapture({ filter: `tcp port ${grpcPort}`, timeoutMs: 60_000 });
    up = startStreammesh(['up', '--verbose'], {
      XDG_STATE_HOME: state,
      STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
      STREAMMESH_CONTROL_PLANE_GRPC: `127.0.0.1:${grpcPort}`,
      STREAMMESH_PROXY_ADMIN: '127.0.0.1:0',
      STREAMMESH_PROXY_RTSP_LISTEN: '127.0.0.1:0',
      STREAMMESH_SIGNALING_ADMIN: '127.0.0.1:0',
      STREAMMESH_SIGNALING_LISTEN: '127.0.0.1:0',
      STREAMMESH_PROXY_ID: 'proxy-capture-marker',
      STREAMMESH_SIGNALING_ID: 'signaling-capture-marker',
    });
    const proxy = await up.waitForOutput(/^proxy +ready +(http:\/\/\S+)/m, 30_000);
    await up.waitForOutput(/^signaling +ready +(http:\/\/\S+)/m, 30_000);
    // Ready means the first config arrived over the channel; a few heartbeats more.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const ready = await fetch(`${proxy[1] ?? ''}/readyz`);
    assert.equal(ready.status, 200);
    const { packets } = await capture.stop();
    assert.ok(packets > 10, `packets captured: ${packets}`);

    assert.ok((await countCaptured(capture.file, 'tls.handshake.type == 1')) >= 2, 'ClientHellos');
    assert.ok((await countCaptured(capture.file, 'tls.record.opaque_type == 23')) > 4, 'TLS data');
    const wire = await capturedTcpPayloads(capture.file);
    assert.ok(wire.length > 2_000, `bytes on the channel: ${wire.length}`);
    for (const clear of [
      'PRI * HTTP/2.0',
      '/streammesh.v1.MeshControl/',
      '"logLevel"',
      'proxy-capture-marker',
      'signaling-capture-marker',
    ]) {
      assert.ok(!wire.includes(clear), `${JSON.stringify(clear)} crossed the channel in clear`);
    }
  });
});
