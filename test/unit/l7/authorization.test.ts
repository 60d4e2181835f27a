/**
 * Unit tests of L7 authorization: the first matching rule decides, else the
 * default; `from` needs a verified peer ("*": any); methods and path
 * prefixes; and the path normalisation that keeps a prefix from being
 * bypassed, including a fuzz of random paths over the characters that
 * matter (its output is canonical: absolute, no empty, "." or ".."
 * segments, and normalising it again changes nothing).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpSchema } from '../../../src/config/http-schema.js';
import { compileAuthorization, normalizePath } from '../../../rtp-proxy/l7/router/authorization.js';

const FRONTEND = 'spiffe://streammesh.local/ns/default/sa/frontend';
const OTHER = 'spiffe://streammesh.local/ns/default/sa/other';

function policy(authorization: unknown): ReturnType<typeof compileAuthorization> {
  const http = httpSchema.parse({
    listeners: [{ name: 'l', listen: '127.0.0.1:0', tls: { mode: 'mesh' }, authorization }],
  });
  return compileAuthorization(http.listeners[0]?.authorization);
}

describe('compileAuthorization', () => {
  it('allows everything on a listener without a policy', () => {
    assert.deepEqual(
      compileAuthorization(undefined)({ method: 'DELETE', url: '/x', peer: undefined }),
      {
        allowed: true,
      },
    );
  });

  it('takes the first matching rule, else the default', () => {
    const decide = policy({
      default: 'deny',
      rules: [
        { action: 'deny', paths: ['/admin'] },
        { action: 'allow', from: [FRONTEND], methods: ['GET', 'POST'] },
        { action: 'allow', from: ['*'], paths: ['/public'] },
      ],
    });
    const ask = (method: string, url: string, peer?: string): unknown =>
      decide({ method, url, peer });
    assert.deepEqual(ask('GET', '/admin/x', FRONTEND), { allowed: false, rule: '0' });
    assert.deepEqual(ask('GET', '/users', FRONTEND), { allowed: true });
    assert.deepEqual(ask('DELETE', '/users', FRONTEND), { allowed: false, rule: 'default' });
    assert.deepEqual(ask('GET', '/users', OTHER), { allowed: false, rule: 'default' });
    assert.deepEqual(ask('GET', '/public/a', OTHER), { allowed: true });
    // "*" is any verified peer, never none.
    assert.deepEqual(ask('GET', '/public/a'), { allowed: false, rule: 'default' });
  });

  it('compares methods upper-cased: an HTTP/2 "delete" meets a deny rule on DELETE', () => {
    const decide = policy({
      default: 'allow',
      rules: [{ action: 'deny', methods: ['DELETE'], paths: ['/users'] }],
    });
    for (const method of ['DELETE', 'delete', 'Delete']) {
      assert.deepEqual(decide({ method, url: '/users/1', peer: FRONTEND }), {
        allowed: false,
        rule: '0',
      });
    }
    assert.deepEqual(decide({ method: 'get', url: '/users/1', peer: FRONTEND }), {
      allowed: true,
    });
  });

  it('denies targets upstreams read in more than one way, whatever the policy', () => {
    const decide = policy({ default: 'allow', rules: [] });
    for (const url of [
      '/users#/../billing',
      '/users/..;/billing',
      '/users/.;/x',
      '/users/%2e%2e;/billing',
      '/users/%2E.;jsessionid=1/billing',
    ]) {
      assert.deepEqual(decide({ method: 'GET', url, peer: FRONTEND }), {
        allowed: false,
        rule: 'ambiguous_target',
      });
    }
    // A ";" elsewhere, and one in the query, are ordinary.
    for (const url of ['/users;v=1/x', '/users/a..;b', '/users?x=/..;/']) {
      assert.deepEqual(decide({ method: 'GET', url, peer: FRONTEND }), { allowed: true }, url);
    }
  });

  it('matches paths after normalisation, and never the query', () => {
    const decide = policy({ default: 'allow', rules: [{ action: 'deny', paths: ['/billing'] }] });
    for (const url of [
      '/billing',
      '/users/../billing',
      '//billing',
      '/./billing',
      '/%62illing',
      '/%2e%2e/billing',
      '/a/b/../../billing/x',
      'http://users.example/billing',
    ]) {
      assert.deepEqual(
        decide({ method: 'GET', url, peer: undefined }),
        { allowed: false, rule: '0' },
        url,
      );
    }
    assert.deepEqual(decide({ method: 'GET', url: '/users?next=/billing', peer: undefined }), {
      allowed: true,
    });
  });

  it('refuses an ID that is not a mesh SPIFFE ID in its one spelling', () => {
    for (const from of [
      'spiffe://Streammesh.local/ns/default/sa/x',
      'spiffe://td/ns/a/sa/b/',
      'x',
    ]) {
      const parsed = httpSchema.safeParse({
        listeners: [
          {
            name: 'l',
            listen: '127.0.0.1:0',
            tls: { mode: 'mesh' },
            authorization: { default: 'deny', rules: [{ action: 'allow', from: [from] }] },
          },
        ],
      });
      assert.equal(parsed.success, false, from);
    }
  });
});

describe('normalizePath', () => {
  it('resolves dot segments, merges slashes, decodes unreserved escapes only', () => {
    const cases: [string, string][] = [
      ['/', '/'],
      ['', '/'],
      ['/a/b/', '/a/b/'],
      ['/a/./b', '/a/b'],
      ['/a/../../../b', '/b'],
      ['/a/..', '/'],
      ['/a/.', '/a/'],
      ['/a%2fb', '/a%2Fb'],
      ['/%7e%41', '/~A'],
      ['/a?b=../c#d', '/a'],
      ['https://h:8/x/../y?q', '/y'],
    ];
    for (const [input, output] of cases) assert.equal(normalizePath(input), output, input);
  });

  it('gives a canonical path for random inputs (fuzz)', () => {
    const alphabet = [
      '/',
      '/',
      '.',
      '.',
      '%',
      '2',
      'e',
      'E',
      'f',
      'F',
      'a',
      '?',
      '#',
      '~',
      '5',
      'c',
    ];
    let seed = 17;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let i = 0; i < 5_000; i += 1) {
      const length = Math.floor(random() * 24);
      let input = '';
      for (let j = 0; j < length; j += 1)
        input += alphabet[Math.floor(random() * alphabet.length)] ?? '';
      const output = normalizePath(input);
      assert.ok(output.startsWith('/'), input);
      assert.ok(!output.includes('//'), `${input} -> ${output}`);
      assert.ok(!/(^|\/)\.\.?(\/|$)/.test(output), `${input} -> ${output}`);
      assert.ok(!/[?#]/.test(output), `${input} -> ${output}`);
      assert.equal(normalizePath(output), output, `${input}: normalising again changes nothing`);
    }
  });
});
