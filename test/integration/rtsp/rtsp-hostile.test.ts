/**
 * Hostile clients of the RTSP listener: malformed and oversized requests,
 * control characters, missing or broken CSeq, unknown sessions and methods,
 * floods, trickling (slowloris) and silent clients, too many connections,
 * and a fuzz of mutated requests. Each gets a 4xx or a closed connection and
 * is counted; a viewer watching all along keeps receiving, and the proxy
 * process never restarts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { getJson } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import { RtspTestClient } from '../../helpers/rtsp-client.js';
import { rtspMesh, type RtspMesh } from '../../helpers/rtsp-mesh.js';
import { sleep } from '../../helpers/udp.js';

async function rawExchange(port: number, bytes: Buffer | string): Promise<string> {
  const client = await RtspTestClient.connect(port);
  let text = '';
  client.socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  client.sendRaw(bytes);
  await Promise.race([client.closed, sleep(3000)]);
  client.close();
  return text;
}

describe('RTSP listener under hostile input', { timeout: 180_000 }, () => {
  let mesh: RtspMesh;
  let watcher: RtspTestClient;
  let proxyPid: number;

  const watcherPackets = (): number => watcher.frames.filter((f) => f.channel === 0).length;

  before(async () => {
    mesh = await rtspMesh(['    sessionTimeoutSec: 5', '    maxConnections: 40'].join('\n'));
    proxyPid = (await getJson<{ pid: number }>(`${mesh.proxyUrl}/healthz`)).body.pid;
    // A well-behaved viewer of the demo camera, watching through everything below.
    watcher = await RtspTestClient.connect(mesh.rtspPort);
    assert.equal((await watcher.request('DESCRIBE', mesh.url('demo')))?.status, 200);
    const setup = await watcher.request('SETUP', `${mesh.url('demo')}/trackID=0`, {
      Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
    });
    const session = setup?.headers.get('Session')?.split(';')[0] ?? '';
    assert.equal(
      (await watcher.request('PLAY', mesh.url('demo'), { Session: session }))?.status,
      200,
    );
    await waitFor(() => (watcherPackets() > 10 ? true : undefined), 5000);
  });

  after(async () => {
    watcher.close();
    await mesh.stop();
  });

  const statusOf = (text: string): number => Number(/^RTSP\/1\.0 (\d{3})/.exec(text)?.[1] ?? 0);

  it('answers malformed, oversized and control-character requests with 4xx and closes', async () => {
    const cases: [string, string | Buffer, number][] = [
      ['bad request line', 'HELLO\r\n\r\n', 400],
      ['bad version', 'OPTIONS * HTTP/1.1\r\nCSeq: 1\r\n\r\n', 505],
      ['control character in URL', `DESCRIBE rtsp://h/de\x01mo RTSP/1.0\r\nCSeq: 1\r\n\r\n`, 400],
      ['huge headers', `OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: ${'a'.repeat(100_000)}\r\n\r\n`, 431],
      ['URL too long', `DESCRIBE rtsp://h/${'a'.repeat(5000)} RTSP/1.0\r\nCSeq: 1\r\n\r\n`, 414],
      [
        'bad content length',
        'ANNOUNCE rtsp://h/x RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -4\r\n\r\n',
        400,
      ],
    ];
    for (const [name, bytes, status] of cases) {
      const text = await rawExchange(mesh.rtspPort, bytes);
      assert.equal(statusOf(text), status, `${name}: ${text.slice(0, 200)}`);
    }
    assert.ok(((await mesh.rtsp()).defects.parse_error ?? 0) >= cases.length);
  });

  it('answers protocol misuse without closing the connection', async () => {
    const client = await RtspTestClient.connect(mesh.rtspPort);
    const noCseq = await rawRequest(client, 'OPTIONS * RTSP/1.0\r\n\r\n');
    assert.equal(noCseq, 400);
    assert.equal(await rawRequest(client, 'OPTIONS * RTSP/1.0\r\nCSeq: abc\r\n\r\n'), 400);
    const url = mesh.url('demo');
    assert.equal((await client.request('PLAY', url, { Session: 'deadbeefdeadbeef' }))?.status, 454);
    assert.equal((await client.request('TEARDOWN', url, { Session: 'nope' }))?.status, 454);
    assert.equal((await client.request('GET_PARAMETER', url, { Session: 'x' }))?.status, 454);
    assert.equal((await client.request('PLAY', url))?.status, 454);
    assert.equal((await client.request('DESCRIBE', mesh.url('no-such-camera')))?.status, 404);
    assert.equal((await client.request('FROBNICATE', url))?.status, 501);
    assert.equal((await client.request('REDIRECT', url))?.status, 405);
    const badTransport = await client.request('SETUP', `${url}/trackID=0`, {
      Transport: 'RTP/AVP;multicast',
    });
    assert.equal(badTransport?.status, 461);
    assert.equal(
      (await client.request('SETUP', `${url}/trackID=7`, { Transport: 'RTP/AVP/TCP;unicast' }))
        ?.status,
      404,
    );
    assert.equal((await client.request('RECORD', url, { Session: 'x' }))?.status, 454);
    // Interleaved data for no session is ignored and counted, and the connection goes on.
    client.sendRaw(Buffer.from([0x24, 9, 0, 2, 1, 2]));
    assert.equal((await client.request('OPTIONS', '*'))?.status, 200);
    client.close();
    const defects = (await mesh.rtsp()).defects;
    assert.ok((defects.missing_cseq ?? 0) >= 2, JSON.stringify(defects));
    assert.ok((defects.unknown_session ?? 0) >= 4, JSON.stringify(defects));
    assert.ok((defects.unknown_channel ?? 0) >= 1, JSON.stringify(defects));
  });

  it('cuts off a pipelined request flood', async () => {
    const flood = 'OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n'.repeat(500);
    const text = await rawExchange(mesh.rtspPort, flood);
    assert.ok(text.split('RTSP/1.0 200').length - 1 < 500, 'not every request was answered');
    assert.ok(((await mesh.rtsp()).defects.pipeline_flood ?? 0) >= 1);
  });

  it('closes a client that trickles a request (408), and one that stays silent', async () => {
    const slow = await RtspTestClient.connect(mesh.rtspPort);
    let text = '';
    slow.socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    slow.sendRaw('OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n');
    const silent = await RtspTestClient.connect(mesh.rtspPort);
    for (let i = 0; i < 5; i++) {
      await sleep(2000);
      slow.sendRaw('X-Slow: 1\r\n');
    }
    await Promise.race([slow.closed, sleep(10_000)]);
    assert.equal(statusOf(text), 408, text);
    // sessionTimeoutSec 5 is also the idle limit of a connection with no session.
    await Promise.race([silent.closed, sleep(10_000)]);
    assert.equal(silent.socket.destroyed, true);
    const defects = (await mesh.rtsp()).defects;
    assert.ok((defects.header_timeout ?? 0) >= 1 && (defects.idle_timeout ?? 0) >= 1);
  });

  it('times out a UDP session that sends no keepalive', async () => {
    const client = await RtspTestClient.connect(mesh.rtspPort);
    const setup = await client.request('SETUP', `${mesh.url('demo')}/trackID=0`, {
      Transport: 'RTP/AVP;unicast;client_port=40000-40001',
    });
    assert.equal(setup?.status, 200);
    assert.match(setup.headers.get('Session') ?? '', /;timeout=5$/);
    client.close();
    const before = (await mesh.rtsp()).sessions.length;
    await waitFor(
      async () => ((await mesh.rtsp()).sessions.length < before ? true : undefined),
      12_000,
    );
  });

  it('refuses connections beyond maxConnections', async () => {
    const clients = await Promise.all(
      Array.from({ length: 45 }, () => RtspTestClient.connect(mesh.rtspPort)),
    );
    await sleep(500);
    const closed = clients.filter((c) => c.socket.destroyed || c.socket.readableEnded).length;
    assert.ok(closed >= 5, `${closed} of 45 refused`);
    for (const client of clients) client.close();
    await waitFor(async () => ((await mesh.rtsp()).connections <= 2 ? true : undefined), 5000);
  });

  it('survives 1000 mutated requests, and the watching viewer never stops', async () => {
    const seed = [
      'OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n',
      `DESCRIBE ${mesh.url('demo')} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n`,
      `SETUP ${mesh.url('demo')}/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n`,
      `PLAY ${mesh.url('demo')} RTSP/1.0\r\nCSeq: 4\r\nSession: 0123456789abcdef\r\n\r\n`,
      `ANNOUNCE ${mesh.url('demo')} RTSP/1.0\r\nCSeq: 5\r\nContent-Type: application/sdp\r\nContent-Length: 10\r\n\r\nv=0\r\ns=x\r\n`,
    ].map((text) => Buffer.from(text, 'latin1'));
    const before = watcherPackets();
    for (let round = 0; round < 50; round++) {
      const client = await RtspTestClient.connect(mesh.rtspPort);
      client.socket.on('data', () => undefined);
      for (let i = 0; i < 20; i++) {
        const base = Buffer.from(seed[(round + i) % seed.length] ?? Buffer.alloc(0));
        client.sendRaw(mutate(base));
      }
      client.close();
    }
    await sleep(1500);
    assert.ok(watcherPackets() > before + 20, 'the watcher kept receiving');
    const health = await getJson<{ pid: number }>(`${mesh.proxyUrl}/healthz`);
    assert.equal(health.body.pid, proxyPid, 'the proxy never restarted');
    assert.equal((await watcher.request('GET_PARAMETER', mesh.url('demo')))?.status, 200);
  });
});

async function rawRequest(client: RtspTestClient, text: string): Promise<number | undefined> {
  client.sendRaw(text);
  return (await client.next())?.status;
}

/** A few random byte flips, insertions and truncations. */
function mutate(input: Buffer): Buffer {
  const bytes = [...input];
  const edits = 1 + Math.floor(Math.random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(Math.random() * (bytes.length + 1));
    switch (Math.floor(Math.random() * 4)) {
      case 0:
        bytes[at] = randomBytes(1)[0] ?? 0;
        break;
      case 1:
        bytes.splice(at, 0, ...randomBytes(1 + Math.floor(Math.random() * 8)));
        break;
      case 2:
        bytes.splice(at, 1 + Math.floor(Math.random() * 8));
        break;
      default:
        bytes.splice(at, 0, ...Buffer.from(['\r\n', '$', ':', ' ', '\x00', ';'][e % 6] ?? ''));
    }
  }
  return Buffer.from(bytes);
}
