/**
 * ServiceAccount tokens as the control plane judges them:
 *
 * - allowedIdentity(): a TokenReview status → the one SPIFFE ID (and, for a
 *   pod-bound token, the one node id) its holder may ask for; refused when
 *   not authenticated, for another audience, or not a ServiceAccount's;
 * - TokenReviewer: a positive review is kept for its TTL under the token's
 *   SHA-256 (the clock is injected), refusals and failures are not kept,
 *   concurrent checks of one token share one review, and no answer (an
 *   error, the deadline) is TokenReviewUnavailableError, never a verdict;
 * - the authenticator maps those to IssueCertificate's refusals:
 *   UNAUTHENTICATED bad_token, UNAVAILABLE review_unavailable.
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
  CertificateRefusedError,
  serviceAccountTokenAuthenticator,
} from '../../../../src/control-plane/identity/index.js';

const EXPECTED = { audience: 'streammesh', trustDomain: 'mesh.test' };
const PROXY_ID = 'spiffe://mesh.test/ns/media/sa/streammesh-proxy';

function reviewed(overrides: ReviewStatus = {}): ReviewStatus {
  return {
    authenticated: true,
    audiences: ['streammesh'],
    user: {
      username: 'system:serviceaccount:media:streammesh-proxy',
      extra: { 'authentication.kubernetes.io/credential-id': ['JTI=9f1c'] },
    },
    ...overrides,
  };
}

describe('allowedIdentity', () => {
  it("allows a ServiceAccount's token only its own SPIFFE ID, and no pod when unbound", () => {
    assert.deepEqual(allowedIdentity(reviewed(), EXPECTED), {
      ok: true,
      namespace: 'media',
      serviceAccount: 'streammesh-proxy',
      spiffeId: PROXY_ID,
      podName: undefined,
    });
  });

  it('names the pod of a pod-bound token: the only node id it may ask for', () => {
    const verdict = allowedIdentity(
      reviewed({
        user: {
          username: 'system:serviceaccount:media:streammesh-proxy',
          extra: {
            [POD_NAME_EXTRA]: ['proxy-7xk2p'],
            'authentication.kubernetes.io/pod-uid': ['0c9e'],
          },
        },
      }),
      EXPECTED,
    );
    assert.ok(verdict.ok);
    assert.equal(verdict.podName, 'proxy-7xk2p');
    assert.equal(verdict.spiffeId, PROXY_ID);
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
    audience: 'streammesh',
    trustDomain: 'mesh.test',
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
      check: () =>
        Promise.resolve(
          allowedIdentity(
            reviewed({
              user: {
                username: 'system:serviceaccount:media:streammesh-proxy',
                extra: { [POD_NAME_EXTRA]: ['proxy-7xk2p'] },
              },
            }),
            EXPECTED,
          ),
        ),
    });
    const grant = await authenticator.authenticate('a-token-0123456789');
    assert.equal(grant.spiffeId, PROXY_ID);
    assert.equal(grant.nodeId, 'proxy-7xk2p');
    assert.doesNotMatch(grant.holder, /a-token/);
  });

  it('refuses a refused token as UNAUTHENTICATED bad_token, no verdict as UNAVAILABLE', async () => {
    const refusing = serviceAccountTokenAuthenticator({
      audience: 'streammesh',
      check: () => Promise.resolve(allowedIdentity(reviewed({ audiences: ['other'] }), EXPECTED)),
    });
    await assert.rejects(refusing.authenticate('a-token-0123456789'), (error: unknown) => {
      assert.ok(error instanceof CertificateRefusedError);
      assert.equal(error.status, grpc.status.UNAUTHENTICATED);
      assert.equal(error.reason, 'bad_token');
      return true;
    });
    const unreachable = serviceAccountTokenAuthenticator({
      audience: 'streammesh',
      check: () =>
        Promise.reject(new TokenReviewUnavailableError('the API server could not review')),
    });
    await assert.rejects(unreachable.authenticate('a-token-0123456789'), (error: unknown) => {
      assert.ok(error instanceof CertificateRefusedError);
      assert.equal(error.status, grpc.status.UNAVAILABLE);
      assert.equal(error.reason, 'review_unavailable');
      return true;
    });
  });
});
