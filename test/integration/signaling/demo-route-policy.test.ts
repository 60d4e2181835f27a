/**
 * The demo page's content security policy lets it connect to its own origin
 * and to the mesh's other signaling nodes (a join may be `moved` there, a
 * WHIP/WHEP POST redirected there), as their http(s) and WebSocket origins
 * only: a path, a query or a quote in a node's URL never reaches the policy,
 * and a URL that is not http(s) adds nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { demoRoute, nodeOrigins } from '../../../signaling/demo/route.js';

describe('demo page policy', () => {
  let dir: string;
  let peers: string[] = [];
  const server = createServer((request, response) => {
    void route.handle(request, response);
  });
  let route: ReturnType<typeof demoRoute>;
  let base: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'demo-route-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><html></html>\n');
    route = demoRoute({ directory: dir, peerUrls: () => peers });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const connectSrc = async (): Promise<string> => {
    const response = await fetch(`${base}/`);
    assert.equal(response.status, 200);
    const policy = response.headers.get('content-security-policy') ?? '';
    return /(?:^|; )connect-src ([^;]*)/.exec(policy)?.[1] ?? '';
  };

  it('connects to its own origin only, with no other node', async () => {
    assert.equal(await connectSrc(), "'self'");
  });

  it("adds each other node's http and WebSocket origins, and nothing of a path, a query or a bad URL", async () => {
    peers = [
      'http://127.0.0.22:8443/',
      'https://sfu-b.example:8443/ignored?x=1',
      "http://sfu-c.example/'; script-src *",
      'ftp://sfu-d.example/',
      'not a url',
      'http://127.0.0.22:8443',
    ];
    assert.equal(
      await connectSrc(),
      "'self' http://127.0.0.22:8443 ws://127.0.0.22:8443 https://sfu-b.example:8443 wss://sfu-b.example:8443 http://sfu-c.example ws://sfu-c.example",
    );
    assert.deepEqual(nodeOrigins('ftp://x/'), []);
  });
});
