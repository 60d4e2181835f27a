/**
 * ServiceAccount tokens as the control plane judges them:
 *
 * - allowedIdentity(): a TokenReview status → the one SPIFFE ID and the one
 *   node id (its pod's name) its holder may ask for; refused when not
 *   authenticated, for another audience, not a ServiceAccount's, a
 *   ServiceAccount the mesh does not run as (another one, or a mesh
 *   ServiceAccount's name in another namespace), or not bound to a pod;
 *   assertGranted() then refuses a request for another node id than the pod;
 * - TokenReviewer: a positive review is kept for its TTL under the token's
 *   SHA-256 (the clock is injected), refusals and failures are not kept,
 *   concurrent checks of one token share one review, and no answer (an
 *   error, the deadline) is TokenReviewUnavailableError, never a verdict;
 * - the authenticator maps those to IssueCertificate's refusals:
 *   UNAUTHENTICATED bad_token, PERMISSION_DENIED not_mesh_workload and
 *   unbound_token, UNAVAILABLE review_unavailable.
 *
 * The API server is replaced by a function returning statuses shaped as the
 * real one answers (test/integration/kubernetes/identity.test.ts asks the
 * real one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  allowedIdentity,
  TokenReviewer,
  TokenReviewUnavailableError,
  type ReviewStatus,
} from '../../../../src/control-plane/kubernetes/index.js';
import {
  DEFAULT_CACHE_TTL_MS,
  POD_NAME_EXTRA,
  tokenKey,
} from '../../../../src/control-plane/kubernetes/token-review.js';
import {
  assertGranted,
  CertificateRefusedError,
  serviceAccountTokenAuthenticator,
} from '../../../../src/control-plane/identity/index.js';
import { meshWorkloadIdentities } from '../../../../src/control-plane/node-roles.js';
import { meshConfigSchema } from '../../../../src/config/index.js';

const PROXY_ID = 'spiffe://mesh.test/ns/media/sa/streammesh-proxy';
const SIGNALING_ID = 'spiffe://mesh.test/ns/media/sa/streammesh-signaling';
const EXPECTED = {
  audience: 'streammesh',
  trustDomain: 'mesh.test',
  workloads: new Set([PROXY_ID, SIGNALING_ID]),
};
const POD = 'proxy-7xk2p';

/** A review of `media/streammesh-proxy`'s token bound to pod POD, as the API server answers. */
function reviewed(overrides: ReviewStatus = {}): ReviewStatus {
  return {
    authenticated: true,
    audiences: ['streammesh'],
    user: boundUser('media', 'streammesh-proxy'),
    ...overrides,
  };
}

/** A ServiceAccount's user; its token bound to `pod`, or to none when null. */
function boundUser(namespace: string, serviceAccount: string, pod: string | null = POD) {
  return {
    username: `system:serviceaccount:${namespace}:${serviceAccount}`,
    extra: {
      'authentication.kubernetes.io/credential-id': ['JTI=9f1c'],
      ...(pod === null
        ? {}
        : { [POD_NAME_EXTRA]: [pod], 'authentication.kubernetes.io/pod-uid': ['0c9e'] }),
    },
  };
}

function refusal(error: unknown, status: grpc.status, reason: string): true {
  assert.ok(error instanceof CertificateRefusedError, String(error));
  assert.equal(error.status, status);
  assert.equal(error.reason, reason);
  return true;
}

describe('allowedIdentity', () => {
  it("allows a mesh workload's pod-bound token its own SPIFFE ID and its pod's name", () => {
    assert.deepEqual(allowedIdentity(reviewed(), EXPECTED), {
      ok: true,
      namespace: 'media',
      serviceAccount: 'streammesh-proxy',
      spiffeId: PROXY_ID,
      podName: POD,
    });
    const signaling = allowedIdentity(
      reviewed({ user: boundUser('media', 'streammesh-signaling', 'signaling-0') }),
      EXPECTED,
    );
    assert.equal(signaling.ok && signaling.spiffeId, SIGNALING_ID);
  });

  it('refuses another ServiceAccount, and a mesh ServiceAccount name in another namespace', () => {
    for (const [namespace, serviceAccount] of [
      ['media', 'default'],
      ['media', 'some-app'],
      ['other', 'streammesh-proxy'],
      ['other', 'streammesh-signaling'],
    ] as const) {
      const verdict = allowedIdentity(
        reviewed({ user: boundUser(namespace, serviceAccount) }),
        EXPECTED,
      );
      const who = `${namespace}/${serviceAccount}`;
      assert.equal(!verdict.ok && verdict.reason, 'not_mesh_workload', who);
      assert.ok(!verdict.ok && verdict.detail.includes(who), who);
    }
  });

  it('refuses a mesh ServiceAccount token bound to no pod', () => {
    for (const user of [
      boundUser('media', 'streammesh-proxy', null),
      { ...boundUser('media', 'streammesh-proxy'), extra: { [POD_NAME_EXTRA]: [] } },
      { ...boundUser('media', 'streammesh-proxy'), extra: { [POD_NAME_EXTRA]: [''] } },
      { username: 'system:serviceaccount:media:streammesh-proxy' },
    ]) {
      const verdict = allowedIdentity(reviewed({ user }), EXPECTED);
      assert.equal(!verdict.ok && verdict.reason, 'unbound_token', JSON.stringify(user));
    }
  });

  it('with assertGranted, refuses a node id other than the pod and an ID other than its own', async () => {
    const grant = await serviceAccountTokenAuthenticator({
      audience: 'streammesh',
      check: () => Promise.resolve(allowedIdentity(reviewed(), EXPECTED)),
    }).authenticate('a-token-0123456789');
    assert.doesNotThrow(() => assertGranted(grant, PROXY_ID, POD));
    assert.throws(
      () => assertGranted(grant, PROXY_ID, 'proxy-other'),
      (error: unknown) => refusal(error, grpc.status.PERMISSION_DENIED, 'other_identity'),
    );
    assert.throws(
      () => assertGranted(grant, SIGNALING_ID, POD),
      (error: unknown) => refusal(error, grpc.status.PERMISSION_DENIED, 'other_identity'),
    );
  });

  it('refuses a token the API server does not authenticate, with its words', () => {
    const verdict = allowedIdentity(
      {
        authenticated: false,
        error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]',
      },
      EXPECTED,
    );
    assert.ok(!verdict.ok);
    assert.equal(verdict.reason, 'not_authenticated');
    assert.match(verdict.detail, /invalid bearer token/);
    // No status at all (an empty answer) is no authentication either.
    assert.equal(allowedIdentity(undefined, EXPECTED).ok, false);
    assert.equal(allowedIdentity({}, EXPECTED).ok, false);
  });

  it('refuses a token the API server did not confirm for our audience', () => {
    const { audiences: _, ...noAudiences } = reviewed();
    assert.equal(!allowedIdentity(noAudiences, EXPECTED).ok && 'refused', 'refused');
    for (const audiences of [[], ['https://kubernetes.default.svc'], ['streammesh-other']]) {
      const verdict = allowedIdentity(reviewed({ audiences }), EXPECTED);
      assert.equal(!verdict.ok && verdict.reason, 'wrong_audience', JSON.stringify(audiences));
    }
  });

  it('refuses an authenticated user that is not a ServiceAccount, or one with no SPIFFE ID', () => {
    for (const username of [
      'admin',
      'system:node:worker-1',
      'system:serviceaccount:media',
      'system:serviceaccount:media:a:b',
      '',
      // A ServiceAccount name may hold dots; a SPIFFE ID's service account may not.
      'system:serviceaccount:media:proxy.v2',
    ]) {
      const verdict = allowedIdentity(reviewed({ user: { username } }), EXPECTED);
      assert.equal(!verdict.ok && verdict.reason, 'not_a_service_account', username);
    }
  });
});

/** A reviewer over a scripted API server and a clock the test moves. */
function harness(answer: (token: string) => Promise<ReviewStatus>) {
  const clock = { nowMs: 1_000_000, now: () => clock.nowMs };
  const calls: string[] = [];
  const reviewer = new TokenReviewer({
    review: (token, audience) => {
      assert.equal(audience, 'streammesh');
      calls.push(token);
      return answer(token);
    },
    ...EXPECTED,
    clock,
    timeoutMs: 200,
  });
  return { clock, calls, reviewer };
}

describe('TokenReviewer', () => {
  it('keeps a positive review for its TTL, then asks again', async () => {
    const { clock, calls, reviewer } = harness(() => Promise.resolve(reviewed()));
    const first = await reviewer.check('token-a-0123456789');
    assert.ok(first.ok);
    clock.nowMs += DEFAULT_CACHE_TTL_MS - 1;
    assert.deepEqual(await reviewer.check('token-a-0123456789'), first);
    assert.equal(calls.length, 1, 'a second check within the TTL asked the API server');
    // Another token is its own review.
    await reviewer.check('token-b-0123456789');
    assert.equal(calls.length, 2);
    clock.nowMs += 1;
    await reviewer.check('token-a-0123456789');
    assert.equal(calls.length, 3, 'a review past its TTL was used');
  });

  it('keeps no refusal: a token refused now is asked about again', async () => {
    const { calls, reviewer } = harness(() =>
      Promise.resolve({ authenticated: false, error: 'token expired' }),
    );
    assert.equal((await reviewer.check('expired-token-0123')).ok, false);
    assert.equal((await reviewer.check('expired-token-0123')).ok, false);
    assert.equal(calls.length, 2);
    assert.equal(reviewer.cached, 0);
  });

  it('keys what it keeps by the SHA-256 of the token, never the token', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.payload.signature';
    const key = tokenKey(token);
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.equal(key, tokenKey(token));
    assert.notEqual(key, tokenKey(`${token}x`));
    assert.ok(!key.includes(token));
  });

  it('shares one review between concurrent checks of a token', async () => {
    let release: (status: ReviewStatus) => void = () => undefined;
    const { calls, reviewer } = harness(() => new Promise((resolve) => (release = resolve)));
    const checks = [1, 2, 3].map(() => reviewer.check('storm-token-012345'));
    release(reviewed());
    const verdicts = await Promise.all(checks);
    assert.equal(calls.length, 1);
    assert.ok(verdicts.every((verdict) => verdict.ok));
  });

  it('gives no verdict when the API server fails or is too slow, and keeps nothing', async () => {
    const failing = harness(() => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443')));
    await assert.rejects(failing.reviewer.check('some-token-0123456'), (error: unknown) => {
      assert.ok(error instanceof TokenReviewUnavailableError);
      assert.match(error.message, /ECONNREFUSED/);
      assert.doesNotMatch(error.message, /some-token/);
      return true;
    });
    await assert.rejects(failing.reviewer.check('some-token-0123456'), TokenReviewUnavailableError);
    assert.equal(failing.calls.length, 2, 'a failure was kept');
    const silent = harness(() => new Promise(() => undefined));
    await assert.rejects(silent.reviewer.check('slow-token-0123456'), /no answer within 200 ms/);
  });
});

describe('serviceAccountTokenAuthenticator', () => {
  it("grants the ServiceAccount's ID and the pod's name, nothing else", async () => {
    const authenticator = serviceAccountTokenAuthenticator({
      audience: 'streammesh',
      check: () => Promise.resolve(allowedIdentity(reviewed(), EXPECTED)),
    });
    const grant = await authenticator.authenticate('a-token-0123456789');
    assert.equal(grant.spiffeId, PROXY_ID);
    assert.equal(grant.nodeId, POD);
    assert.doesNotMatch(grant.holder, /a-token/);
  });

  it('refuses a refused token as UNAUTHENTICATED bad_token, no verdict as UNAVAILABLE', async () => {
    const refusing = serviceAccountTokenAuthenticator({
      audience: 'streammesh',
      check: () => Promise.resolve(allowedIdentity(reviewed({ audiences: ['other'] }), EXPECTED)),
    });
    await assert.rejects(refusing.authenticate('a-token-0123456789'), (error: unknown) =>
      refusal(error, grpc.status.UNAUTHENTICATED, 'bad_token'),
    );
    const unreachable = serviceAccountTokenAuthenticator({
      audience: 'streammesh',
      check: () =>
        Promise.reject(new TokenReviewUnavailableError('the API server could not review')),
    });
    await assert.rejects(unreachable.authenticate('a-token-0123456789'), (error: unknown) =>
      refusal(error, grpc.status.UNAVAILABLE, 'review_unavailable'),
    );
  });

  it('refuses a valid token of another workload or bound to no pod as PERMISSION_DENIED', async () => {
    for (const [user, reason] of [
      [boundUser('media', 'some-app'), 'not_mesh_workload'],
      [boundUser('media', 'streammesh-proxy', null), 'unbound_token'],
    ] as const) {
      const authenticator = serviceAccountTokenAuthenticator({
        audience: 'streammesh',
        check: () => Promise.resolve(allowedIdentity(reviewed({ user }), EXPECTED)),
      });
      await assert.rejects(authenticator.authenticate('a-token-0123456789'), (error: unknown) =>
        refusal(error, grpc.status.PERMISSION_DENIED, reason),
      );
    }
  });
});

describe('meshWorkloadIdentities', () => {
  it("is the proxies' and signaling nodes' identities, instances' ServiceAccounts included", () => {
    const config = meshConfigSchema.parse({
      controlPlane: { trustDomain: 'mesh.test' },
      proxy: {
        identity: { namespace: 'media', serviceAccount: 'edge-proxy' },
        instances: [{ id: 'p2', host: '127.0.0.2', serviceAccount: 'edge-proxy-b' }],
      },
      signaling: {
        identity: { namespace: 'sig', serviceAccount: 'sig' },
        instances: [{ id: 's2', host: '127.0.0.3', serviceAccount: 'sig-b' }],
      },
    });
    assert.deepEqual([...meshWorkloadIdentities(config, 'mesh.test')].sort(), [
      'spiffe://mesh.test/ns/media/sa/edge-proxy',
      'spiffe://mesh.test/ns/media/sa/edge-proxy-b',
      'spiffe://mesh.test/ns/sig/sa/sig',
      'spiffe://mesh.test/ns/sig/sa/sig-b',
    ]);
    // controlPlane.signalingIdentities replaces the signaling ones, as for roles.
    const configured = meshConfigSchema.parse({
      controlPlane: {
        trustDomain: 'mesh.test',
        signalingIdentities: ['spiffe://mesh.test/ns/sig/sa/only-this'],
      },
      proxy: { identity: { namespace: 'media', serviceAccount: 'edge-proxy' } },
    });
    assert.deepEqual([...meshWorkloadIdentities(configured, 'mesh.test')].sort(), [
      'spiffe://mesh.test/ns/media/sa/edge-proxy',
      'spiffe://mesh.test/ns/sig/sa/only-this',
    ]);
  });
});
