/**
 * Segment routes of the admin server: one route serves `/nodes/<id>/drain`
 * for every id and `/streams/<path>/hops` for every path (slashes allowed
 * there only), so the route table does not grow with nodes or streams;
 * exact routes win; what matches no route is 404 and a wrong method 405.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { AdminServer } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';

describe('admin segment routes', () => {
  const admin = new AdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: new Registry(),
    log: createLogger('test', 'silent'),
    readiness: () => ({ ready: true }),
  });
  let base = '';

  before(async () => {
    admin.segmentRoute('POST', '/nodes/', '/drain', (_request, id) => ({
      status: 202,
      body: { id },
    }));
    admin.segmentRoute(
      'GET',
      '/streams/',
      '/hops',
      (_request, path) => ({ status: 200, body: { path } }),
      { slashes: true },
    );
    admin.route('GET', '/streams/special/hops', () => ({ status: 200, body: { exact: true } }));
    base = `http://127.0.0.1:${(await admin.listen()).port}`;
  });
  after(() => admin.close());

  const call = async (method: string, path: string): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${base}${path}`, { method });
    return { status: response.status, body: await response.json() };
  };

  it('hands the segment to the handler, decoded', async () => {
    assert.deepEqual(await call('POST', '/nodes/proxy-a/drain'), {
      status: 202,
      body: { id: 'proxy-a' },
    });
    assert.deepEqual((await call('POST', '/nodes/proxy%2Db/drain')).body, { id: 'proxy-b' });
    assert.deepEqual((await call('GET', '/streams/site/cam1/hops')).body, { path: 'site/cam1' });
    assert.deepEqual((await call('GET', '/streams/special/hops')).body, { exact: true });
  });

  it('refuses what is not one segment where slashes are not allowed, an empty one, a bad escape', async () => {
    for (const path of [
      '/nodes/a/b/drain',
      '/nodes/a%2Fb/drain',
      '/nodes//drain',
      '/nodes/%E0%A4%A/drain',
      '/nodes/drain',
      `/nodes/${'x'.repeat(254)}/drain`,
    ]) {
      assert.equal((await call('POST', path)).status, 404, path);
    }
    assert.equal((await call('GET', '/nodes/proxy-a/drain')).status, 405);
  });
});
