/**
 * What a Kubernetes source's watch asks of the API server, read from a real
 * HTTP request to a server standing in for it (only the request is
 * checked here; the loop's behaviour is unit-tested with a scripted client
 * in test/unit/control-plane/kubernetes/list-watch.test.ts, and real list
 * and watch calls run in the other tests of this directory).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import {
  collectionWatchClient,
  ListWatch,
} from '../../../src/control-plane/kubernetes/list-watch.js';
import { createLogger } from '../../../src/shared/log.js';
import { waitFor } from '../../helpers/process.js';

describe('ListWatch request', () => {
  it('collectionWatchClient: the watch request carries the selector, the version, bookmarks and timeoutSeconds', async () => {
    const urls: string[] = [];
    const server = createServer((request, response) => {
      urls.push(request.url ?? '');
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 's', resourceVersion: '8' } } })}\n`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromClusterAndUser(
      {
        name: 'test',
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true, // plain HTTP: the client allows it only so
      },
      { name: 'test' },
    );
    const path = '/apis/discovery.k8s.io/v1/namespaces/web/endpointslices';
    const events: string[] = [];
    const watch = new ListWatch({
      client: collectionWatchClient(
        kubeConfig,
        path,
        () => Promise.resolve({ metadata: { resourceVersion: '7' }, items: [] }),
        { labelSelector: 'kubernetes.io/service-name=web' },
      ),
      onList: () => undefined,
      onEvent: (type) => events.push(type),
      log: createLogger('test', 'silent'),
      backoff: { baseMs: 1, maxMs: 2 },
      watchTimeoutSec: 123,
    });
    try {
      watch.start();
      await waitFor(
        () => (events.length > 0 ? true : undefined),
        5_000,
        () => 'an event',
      );
    } finally {
      await watch.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    const url = new URL(urls[0] ?? '', 'http://x');
    assert.equal(url.pathname, path);
    assert.equal(url.searchParams.get('watch'), 'true');
    assert.equal(url.searchParams.get('labelSelector'), 'kubernetes.io/service-name=web');
    assert.equal(url.searchParams.get('resourceVersion'), '7');
    assert.equal(url.searchParams.get('allowWatchBookmarks'), 'true');
    assert.equal(url.searchParams.get('timeoutSeconds'), '123');
  });
});
