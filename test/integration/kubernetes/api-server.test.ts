import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiServerForSuite } from '../../helpers/kube/api-server.js';

// The harness itself: a real API server that stores, validates and
// authenticates, which every Kubernetes test stands on.
describe('test API server (etcd + kube-apiserver from their Go modules)', () => {
  const server = apiServerForSuite();

  it('reports the pinned version, stores objects and refuses invalid ones with the real schema', async () => {
    const version = JSON.parse(await server().kubectl(['version', '-o', 'json'])) as {
      serverVersion: { gitVersion: string };
    };
    assert.equal(version.serverVersion.gitVersion, 'v1.37.2');
    await server().kubectl(['create', 'namespace', 'harness']);
    await server().kubectl(['-n', 'harness', 'create', 'configmap', 'one', '--from-literal=a=b']);
    assert.equal(
      await server().kubectl([
        '-n',
        'harness',
        'get',
        'configmap',
        'one',
        '-o',
        'jsonpath={.data.a}',
      ]),
      'b',
    );
    await assert.rejects(
      server().kubectl(
        ['-n', 'harness', 'apply', '-f', '-'],
        'apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 70000}]}\n',
      ),
      /spec\.ports\[0\]\.port/,
    );
  });

  it('issues ServiceAccount tokens that TokenReview confirms, for the audience asked', async () => {
    await server().kubectl(['-n', 'harness', 'create', 'serviceaccount', 'worker']);
    const token = await server().createToken('harness', 'worker', 'streammesh');
    const review = JSON.parse(
      await server().kubectl(
        ['create', '-o', 'json', '-f', '-'],
        JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: ['streammesh'] },
        }),
      ),
    ) as { status: { authenticated?: boolean; user?: { username?: string } } };
    assert.equal(review.status.authenticated, true);
    assert.equal(review.status.user?.username, 'system:serviceaccount:harness:worker');
  });
});
