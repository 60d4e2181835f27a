/**
 * ViewerAuth: tokens, Basic and Digest (MD5, SHA-256, with and without qop)
 * as the RTSP proxy's server side checks them; stateless nonces and their
 * expiry on an injected clock; hostile Authorization values; and real
 * clients (ffprobe, GStreamer rtspsrc) against a small RTSP server on
 * 127.0.0.1 that asks ViewerAuth before answering.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import {
  digestResponse,
  formatAuthorization,
  parseWwwAuthenticate,
  RtspHeaders,
  RtspStreamParser,
  serializeResponse,
  type DigestAlgorithm,
  type RtspRequest,
} from '../../../src/protocol/rtsp/index.js';
import type { RtspAuthConfig } from '../../../src/config/rtsp-schema.js';
import { DigestNonces, NONCE_LIFETIME_MS } from '../../../rtp-proxy/media/rtsp/digest-nonce.js';
import {
  stripToken,
  ViewerAuth,
  type AuthVerdict,
} from '../../../rtp-proxy/media/rtsp/viewer-auth.js';
import { requirePeer, spawnPeer, stopAllPeers } from '../../helpers/peers/process.js';
import { fuzzSeed, Random } from '../../helpers/protocol/rtsp-support.js';

const PASSWORD = 'wonder land';
const TOKEN = 'tok-0123456789abcdef';
const CONFIG: RtspAuthConfig = {
  users: [
    { user: 'alice', password: PASSWORD },
    { user: 'jürgen', password: 'pässwört' },
  ],
  tokens: [TOKEN, 'another-token-0000'],
  methods: ['digest', 'basic'],
};
const URL_CAM = 'rtsp://127.0.0.1:8554/cam';

function request(
  authorization?: string | readonly string[],
  url = URL_CAM,
  method = 'DESCRIBE',
): { method: string; url: string; headers: RtspHeaders } {
  const headers = new RtspHeaders([['CSeq', '2']]);
  const values = typeof authorization === 'string' ? [authorization] : (authorization ?? []);
  for (const value of values) headers.append('Authorization', value);
  return { method, url, headers };
}

function refusal(verdict: AuthVerdict): { reason: string; challenges: readonly string[] } {
  if (verdict.ok) assert.fail(`expected a refusal, got ${JSON.stringify(verdict)}`);
  return verdict;
}

function basic(username: string, password: string): string {
  return formatAuthorization({ scheme: 'Basic', username, password });
}

/** The nonce of the (MD5) Digest challenge a refusal carries. */
function nonceOf(auth: ViewerAuth): string {
  const challenge = refusal(auth.check(request())).challenges.find((c) => c.includes('MD5'));
  const nonce = challenge === undefined ? undefined : parseWwwAuthenticate(challenge)?.params.nonce;
  assert.ok(nonce !== undefined);
  return nonce;
}

interface DigestOptions {
  username?: string;
  password?: string;
  realm?: string;
  method?: string;
  uri?: string;
  algorithm?: DigestAlgorithm;
  qop?: boolean;
  /** Extra or replaced parameters, after the response is computed. */
  params?: Record<string, string>;
}

/** A Digest Authorization value computed the way a client would. */
function digest(nonce: string, options: DigestOptions = {}): string {
  const username = options.username ?? 'alice';
  const realm = options.realm ?? 'streammesh';
  const uri = options.uri ?? URL_CAM;
  const counter =
    options.qop === true ? { qop: 'auth' as const, nc: '00000001', cnonce: 'c1' } : {};
  const response = digestResponse({
    username,
    password: options.password ?? PASSWORD,
    realm,
    nonce,
    method: options.method ?? 'DESCRIBE',
    uri,
    ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
    ...counter,
  });
  const params: Record<string, string> = { username, realm, nonce, uri, response };
  if (options.algorithm !== undefined) params.algorithm = options.algorithm;
  Object.assign(params, counter, options.params);
  return formatAuthorization({ scheme: 'Digest', params });
}

describe('ViewerAuth', () => {
  it('lets everyone in without an auth section', () => {
    const auth = new ViewerAuth(undefined);
    assert.equal(auth.required, false);
    for (const value of [undefined, 'Basic !!!', 'Digest garbage']) {
      assert.deepEqual(auth.check(request(value)), { ok: true, user: null });
    }
    assert.deepEqual(auth.check(request(undefined, `${URL_CAM}?token=wrong`)), {
      ok: true,
      user: null,
    });
  });

  it('asks for credentials with one challenge per method, in the configured order', () => {
    const auth = new ViewerAuth(CONFIG);
    assert.equal(auth.required, true);
    const { reason, challenges } = refusal(auth.check(request()));
    assert.equal(reason, 'missing');
    assert.equal(challenges.length, 2);
    assert.match(
      challenges[0] ?? '',
      /^Digest realm="streammesh", nonce="[A-Za-z0-9_-]{32}", algorithm=MD5, qop="auth"$/,
    );
    assert.equal(challenges[1], 'Basic realm="streammesh"');
    assert.deepEqual(
      refusal(
        new ViewerAuth({ ...CONFIG, methods: ['basic', 'digest'] }).check(request()),
      ).challenges.map((c) => c.split(' ')[0]),
      ['Basic', 'Digest'],
    );
  });

  it('offers SHA-256 before MD5 on request, with the same nonce', () => {
    const auth = new ViewerAuth({ ...CONFIG, methods: ['digest'] }, { offerSha256: true });
    const challenges = refusal(auth.check(request())).challenges.map((c) =>
      parseWwwAuthenticate(c),
    );
    assert.deepEqual(
      challenges.map((c) => c?.params.algorithm),
      ['SHA-256', 'MD5'],
    );
    assert.equal(challenges[0]?.params.nonce, challenges[1]?.params.nonce);
  });

  describe('Basic', () => {
    const auth = new ViewerAuth(CONFIG);

    it('accepts the right password, also for a UTF-8 user name', () => {
      assert.deepEqual(auth.check(request(basic('alice', PASSWORD))), { ok: true, user: 'alice' });
      assert.deepEqual(auth.check(request(basic('jürgen', 'pässwört'))), {
        ok: true,
        user: 'jürgen',
      });
      assert.deepEqual(auth.check(request(`basic   ${basic('alice', PASSWORD).slice(6)}  `)), {
        ok: true,
        user: 'alice',
      });
    });

    it('refuses a wrong password, an unknown user, and Basic when only Digest is offered', () => {
      for (const value of [
        basic('alice', 'wonder lan'),
        basic('alice', `${PASSWORD} `),
        basic('alice', ''),
        basic('bob', PASSWORD),
        basic('', PASSWORD),
      ]) {
        assert.equal(refusal(auth.check(request(value))).reason, 'bad-credentials', value);
      }
      const digestOnly = new ViewerAuth({ ...CONFIG, methods: ['digest'] });
      const { reason, challenges } = refusal(digestOnly.check(request(basic('alice', PASSWORD))));
      assert.equal(reason, 'bad-credentials');
      assert.equal(challenges.length, 1);
      assert.match(challenges[0] ?? '', /^Digest /);
    });

    it('calls broken base64, a missing colon or invalid UTF-8 malformed', () => {
      for (const value of [
        'Basic',
        'Basic ',
        'Basic !!!!',
        'Basic YWxpY2U6d29uZGVyIGxhbmQ', // padding missing
        'Basic YWxp Y2U6',
        `Basic ${Buffer.from('alice').toString('base64')}`,
        `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`,
      ]) {
        assert.equal(refusal(auth.check(request(value))).reason, 'malformed', value);
      }
    });
  });

  describe('Digest', () => {
    const variants: { algorithm?: DigestAlgorithm; qop: boolean }[] = [
      { qop: true },
      { qop: false },
      { algorithm: 'MD5', qop: true },
      { algorithm: 'MD5', qop: false },
      { algorithm: 'SHA-256', qop: true },
      { algorithm: 'SHA-256', qop: false },
    ];
    for (const variant of variants) {
      it(`accepts ${variant.algorithm ?? 'no algorithm (MD5)'}, ${variant.qop ? 'qop=auth' : 'no qop'}`, () => {
        const auth = new ViewerAuth(CONFIG);
        const value = digest(nonceOf(auth), variant);
        assert.deepEqual(auth.check(request(value)), { ok: true, user: 'alice' });
      });
    }

    it('accepts the uri with or without host and credentials, and the exact request URL', () => {
      const auth = new ViewerAuth(CONFIG);
      const nonce = nonceOf(auth);
      for (const uri of [
        URL_CAM,
        '/cam',
        'rtsp://alice:x@127.0.0.1:8554/cam',
        'rtsp://proxy/cam',
      ]) {
        assert.deepEqual(auth.check(request(digest(nonce, { uri }))), { ok: true, user: 'alice' });
      }
      assert.deepEqual(
        auth.check(request(digest(nonce, { uri: '*', method: 'OPTIONS' }), '*', 'OPTIONS')),
        {
          ok: true,
          user: 'alice',
        },
      );
      const withQuery = `${URL_CAM}?x=1`;
      assert.equal(auth.check(request(digest(nonce, { uri: withQuery }), withQuery)).ok, true);
    });

    it('refuses a uri naming another target as malformed', () => {
      const auth = new ViewerAuth(CONFIG);
      const nonce = nonceOf(auth);
      for (const uri of ['rtsp://127.0.0.1:8554/other', '/cam/', `${URL_CAM}?x=1`, '*', '']) {
        assert.equal(refusal(auth.check(request(digest(nonce, { uri })))).reason, 'malformed', uri);
      }
    });

    it('refuses a wrong password, user, realm, method or nonce-bound response', () => {
      const auth = new ViewerAuth(CONFIG);
      const nonce = nonceOf(auth);
      for (const options of [
        { password: 'wonder lan' },
        { username: 'bob' },
        { realm: 'other' },
        { method: 'PLAY' },
        { params: { response: '0'.repeat(32) } },
        { params: { response: 'abc' } },
        { params: { nc: '00000002' }, qop: true },
        { params: { cnonce: 'other' }, qop: true },
        { params: { algorithm: 'SHA-256' } },
      ]) {
        const verdict = auth.check(request(digest(nonce, options)));
        assert.equal(refusal(verdict).reason, 'bad-credentials', JSON.stringify(options));
      }
    });

    it('calls missing fields and unsupported variants malformed', () => {
      const auth = new ViewerAuth(CONFIG);
      const nonce = nonceOf(auth);
      const good = digest(nonce, { qop: true });
      const params = parseWwwAuthenticate(good)?.params ?? {};
      for (const name of ['username', 'realm', 'nonce', 'uri', 'response', 'nc', 'cnonce']) {
        const { [name]: _dropped, ...rest } = params;
        const value = formatAuthorization({ scheme: 'Digest', params: rest });
        assert.equal(refusal(auth.check(request(value))).reason, 'malformed', name);
      }
      for (const extra of [
        { qop: 'auth-int' },
        { nc: '1' },
        { nc: 'zzzzzzzz' },
        { cnonce: '' },
        { algorithm: 'MD5-sess' },
        { algorithm: 'SHA-512-256' },
        { userhash: 'true' },
        { response: 'not hex' },
      ]) {
        const value = formatAuthorization({ scheme: 'Digest', params: { ...params, ...extra } });
        assert.equal(
          refusal(auth.check(request(value))).reason,
          'malformed',
          JSON.stringify(extra),
        );
      }
      for (const value of [
        'Digest',
        'Digest username="alice"',
        'Digest realm="streammesh", nonce="x',
        'Digest =',
      ]) {
        assert.equal(refusal(auth.check(request(value))).reason, 'malformed', value);
      }
    });

    it('refuses Digest when only Basic is offered', () => {
      const auth = new ViewerAuth({ ...CONFIG, methods: ['basic'] });
      const nonce = new DigestNonces().issue();
      const { reason, challenges } = refusal(auth.check(request(digest(nonce))));
      assert.equal(reason, 'bad-credentials');
      assert.deepEqual(challenges, ['Basic realm="streammesh"']);
    });

    it('uses the realm it was given', () => {
      const auth = new ViewerAuth(CONFIG, { realm: 'cameras' });
      const challenge = refusal(auth.check(request())).challenges[0] ?? '';
      assert.equal(parseWwwAuthenticate(challenge)?.params.realm, 'cameras');
      const nonce = nonceOf(auth);
      assert.equal(auth.check(request(digest(nonce, { realm: 'cameras' }))).ok, true);
      assert.equal(refusal(auth.check(request(digest(nonce)))).reason, 'bad-credentials');
      assert.throws(() => new ViewerAuth(CONFIG, { realm: 'a"b' }), RangeError);
      assert.throws(() => new ViewerAuth(CONFIG, { realm: 'a\r\nb' }), RangeError);
    });
  });

  describe('nonces', () => {
    it('expire after five minutes: a right response is then stale, with stale=true', () => {
      let now = 1_700_000_000_000;
      const auth = new ViewerAuth(CONFIG, { now: () => now });
      const nonce = nonceOf(auth);
      now += NONCE_LIFETIME_MS;
      assert.deepEqual(auth.check(request(digest(nonce, { qop: true }))), {
        ok: true,
        user: 'alice',
      });
      now += 1;
      const { reason, challenges } = refusal(auth.check(request(digest(nonce, { qop: true }))));
      assert.equal(reason, 'stale-nonce');
      const challenge = parseWwwAuthenticate(challenges[0] ?? '');
      assert.equal(challenge?.params.stale, 'true');
      assert.notEqual(challenge.params.nonce, nonce);
      assert.equal(challenges[1], 'Basic realm="streammesh"');
      // The new nonce works at once.
      const fresh = challenge.params.nonce ?? '';
      assert.equal(auth.check(request(digest(fresh))).ok, true);
    });

    it('tell only a client that knows the password that its nonce is stale', () => {
      let now = 1_700_000_000_000;
      const auth = new ViewerAuth(CONFIG, { now: () => now });
      const nonce = nonceOf(auth);
      now += NONCE_LIFETIME_MS + 1;
      const { reason, challenges } = refusal(
        auth.check(request(digest(nonce, { password: 'guess' }))),
      );
      assert.equal(reason, 'bad-credentials');
      assert.doesNotMatch(challenges.join(), /stale/);
    });

    it('from another secret, or forged, count as stale for a right response', () => {
      const auth = new ViewerAuth(CONFIG, { secret: Buffer.alloc(32, 1) });
      const foreign = new DigestNonces({ secret: Buffer.alloc(32, 2) }).issue();
      assert.equal(refusal(auth.check(request(digest(foreign)))).reason, 'stale-nonce');
      assert.equal(refusal(auth.check(request(digest('made-up')))).reason, 'stale-nonce');
      const sameSecret = new DigestNonces({ secret: Buffer.alloc(32, 1) }).issue();
      assert.equal(auth.check(request(digest(sameSecret))).ok, true);
    });

    it('are checked without state and survive tampering as foreign', () => {
      let now = 1_000_000;
      const nonces = new DigestNonces({ now: () => now });
      const nonce = nonces.issue();
      assert.equal(nonces.check(nonce), 'fresh');
      const flipped = Buffer.from(nonce, 'base64url');
      flipped[0] = (flipped[0] ?? 0) ^ 1;
      assert.equal(nonces.check(flipped.toString('base64url')), 'foreign');
      assert.equal(nonces.check(`${nonce}A`), 'foreign');
      assert.equal(nonces.check(''), 'foreign');
      now -= 60_000; // the clock stepped back a minute
      assert.equal(nonces.check(nonce), 'stale');
      now = 1_000_000 + NONCE_LIFETIME_MS + 1;
      assert.equal(nonces.check(nonce), 'stale');
      assert.throws(() => new DigestNonces({ secret: Buffer.alloc(8) }), RangeError);
    });
  });

  describe('tokens', () => {
    const auth = new ViewerAuth(CONFIG);

    it('accepts a configured token, percent-encoded or not, among other parameters', () => {
      for (const url of [
        `${URL_CAM}?token=${TOKEN}`,
        `${URL_CAM}?a=1&token=${TOKEN}&b=2`,
        `${URL_CAM}?token=${TOKEN.replace('-', '%2D')}`,
        `${URL_CAM}?token=another-token-0000`,
      ]) {
        assert.deepEqual(auth.check(request(undefined, url)), { ok: true, user: null }, url);
      }
    });

    it('refuses a wrong token, even with good credentials in the header', () => {
      for (const url of [
        `${URL_CAM}?token=${TOKEN}x`,
        `${URL_CAM}?token=${TOKEN.slice(1)}`,
        `${URL_CAM}?token=`,
        `${URL_CAM}?token`,
      ]) {
        assert.equal(
          refusal(auth.check(request(basic('alice', PASSWORD), url))).reason,
          'bad-token',
        );
      }
      const noTokens = new ViewerAuth({ ...CONFIG, tokens: [] });
      assert.equal(
        refusal(noTokens.check(request(undefined, `${URL_CAM}?token=${TOKEN}`))).reason,
        'bad-token',
      );
    });

    it('falls back to the header when no token is given, and calls two tokens malformed', () => {
      assert.equal(
        refusal(auth.check(request(undefined, `${URL_CAM}?tokens=${TOKEN}`))).reason,
        'missing',
      );
      assert.equal(auth.check(request(basic('alice', PASSWORD), `${URL_CAM}?x=1`)).ok, true);
      for (const url of [`${URL_CAM}?token=${TOKEN}&token=${TOKEN}`, `${URL_CAM}?token=%E0%A4%A`]) {
        assert.equal(refusal(auth.check(request(undefined, url))).reason, 'malformed', url);
      }
    });
  });

  describe('stripToken', () => {
    it('removes only the token parameter, keeping the rest as sent', () => {
      const cases: [string, string][] = [
        [`${URL_CAM}?token=abc`, URL_CAM],
        [`${URL_CAM}?token=abc&x=1`, `${URL_CAM}?x=1`],
        [`${URL_CAM}?a=%20&token=abc&b=2`, `${URL_CAM}?a=%20&b=2`],
        [`${URL_CAM}?tokens=1&token&token=2`, `${URL_CAM}?tokens=1`],
        [`${URL_CAM}?x=1`, `${URL_CAM}?x=1`],
        [`${URL_CAM}/trackID=0?token=abc`, `${URL_CAM}/trackID=0`],
        [URL_CAM, URL_CAM],
        ['*', '*'],
        [`${URL_CAM}?token=abc#frag`, `${URL_CAM}#frag`],
      ];
      for (const [input, output] of cases) assert.equal(stripToken(input), output, input);
    });
  });

  describe('hostile input', () => {
    const auth = new ViewerAuth(CONFIG);

    it('calls several, huge, non-ASCII or unknown Authorization values malformed', () => {
      const good = basic('alice', PASSWORD);
      for (const value of [
        [good, good],
        `Basic ${'A'.repeat(8192)}`,
        `Digest username="${'a'.repeat(5000)}", realm="streammesh", nonce="n", uri="/cam", response="0"`,
        'Digest username="älice", realm="streammesh", nonce="n", uri="/cam", response="00"',
        'Basic YWxpY2U6\u0000',
        'Bearer abc',
        'Negotiate YII=',
        '',
        '   ',
      ]) {
        assert.equal(
          refusal(auth.check(request(value))).reason,
          'malformed',
          String(value).slice(0, 60),
        );
      }
      assert.equal(
        refusal(auth.check(request(good, `rtsp://h/${'a'.repeat(9000)}`))).reason,
        'malformed',
      );
      assert.equal(refusal(auth.check(request(good, URL_CAM, 'DE SCRIBE'))).reason, 'malformed');
    });

    it('never throws, and never echoes a password, over 5000 random and mutated values', () => {
      const seed = fuzzSeed();
      const random = new Random(seed);
      const nonce = nonceOf(auth);
      const seeds = [
        basic('alice', PASSWORD),
        digest(nonce, { qop: true }),
        digest(nonce, { algorithm: 'SHA-256' }),
        'Digest username="alice", realm="streammesh", nonce="x", uri="/cam", response="00"',
      ];
      const alphabet = ' ,="\\:=+/AZaz09\t\r\n\u0000\u00ff\u20ac%?&#@';
      const started = performance.now();
      for (let i = 0; i < 5000; i++) {
        let value: string;
        const base = seeds[random.int(seeds.length)] ?? '';
        switch (random.int(4)) {
          case 0:
            value = random.bytes(random.int(200)).toString('latin1');
            break;
          case 1: {
            value = base;
            for (let e = 1 + random.int(4); e > 0; e--) {
              const at = random.int(value.length + 1);
              const insert = alphabet.charAt(random.int(alphabet.length)).repeat(1 + random.int(3));
              value =
                random.int(2) === 0
                  ? value.slice(0, at) + insert + value.slice(at)
                  : value.slice(0, at) + value.slice(at + 1 + random.int(8));
            }
            break;
          }
          case 2:
            value = base.slice(0, random.int(base.length + 1));
            break;
          default:
            value = `${random.int(2) === 0 ? 'Digest' : 'Basic'} ${base.repeat(1 + random.int(30))}`;
        }
        const url = random.int(8) === 0 ? `${URL_CAM}?token=${value.slice(0, 40)}` : URL_CAM;
        let verdict: AuthVerdict;
        try {
          verdict = auth.check(
            request(value, url, random.int(10) === 0 ? value.slice(0, 8) : 'DESCRIBE'),
          );
        } catch (error) {
          assert.fail(`seed ${seed}, input ${JSON.stringify(value)}: threw ${String(error)}`);
        }
        const text = JSON.stringify(verdict);
        assert.ok(!text.includes(PASSWORD) && !text.includes('pässwört'), `seed ${seed}`);
        if (!verdict.ok) assert.ok(verdict.challenges.length === 2, `seed ${seed}`);
      }
      assert.ok(performance.now() - started < 10_000, `seed ${seed}: too slow`);
    });
  });
});

// ---------------------------------------------------------------------------
// Real clients against a tiny RTSP server that asks ViewerAuth first.

interface Seen {
  readonly method: string;
  readonly authorization: string | undefined;
  readonly verdict: AuthVerdict;
}

const SDP = [
  'v=0',
  'o=- 0 0 IN IP4 127.0.0.1',
  's=viewer-auth',
  'c=IN IP4 0.0.0.0',
  't=0 0',
  'm=video 0 RTP/AVP 96',
  'a=rtpmap:96 H264/90000',
  'a=control:trackID=0',
  '',
].join('\r\n');

/**
 * Answers 401 to whatever ViewerAuth refuses; OPTIONS and DESCRIBE when
 * allowed; 461 to SETUP, which ends the clients' attempt there.
 */
class AuthServer {
  readonly seen: Seen[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(
    readonly auth: ViewerAuth,
    /** Called after each verdict, before the answer. */
    readonly onVerdict: (seen: Seen) => void = () => undefined,
  ) {
    this.#server = createServer((socket) => this.#connection(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #connection(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = new RtspStreamParser();
    socket.on('data', (chunk: Buffer) => {
      for (const event of parser.push(chunk)) {
        if (event.type === 'request') socket.write(this.#answer(event.request));
        else if (event.type === 'error') socket.destroy();
      }
    });
  }

  #answer(request: RtspRequest): Buffer {
    const verdict = this.auth.check(request);
    const seen = {
      method: request.method,
      authorization: request.headers.get('Authorization'),
      verdict,
    };
    this.seen.push(seen);
    this.onVerdict(seen);
    const headers = new RtspHeaders([['CSeq', request.headers.get('CSeq') ?? '0']]);
    const respond = (status: number, reason: string, body = ''): Buffer =>
      serializeResponse({ version: 'RTSP/1.0', status, reason, headers, body: Buffer.from(body) });
    if (!verdict.ok) {
      for (const challenge of verdict.challenges) headers.append('WWW-Authenticate', challenge);
      return respond(401, 'Unauthorized');
    }
    switch (request.method) {
      case 'OPTIONS':
        headers.append('Public', 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN');
        return respond(200, 'OK');
      case 'DESCRIBE':
        headers.append('Content-Type', 'application/sdp');
        headers.append('Content-Base', `${stripToken(request.url)}/`);
        return respond(200, 'OK', SDP);
      default:
        return respond(461, 'Unsupported Transport');
    }
  }
}

async function ffprobe(url: string): Promise<string> {
  requirePeer('ffprobe');
  const peer = spawnPeer('ffprobe', ['-v', 'debug', '-rtsp_transport', 'tcp', '-i', url], {
    timeoutMs: 10_000,
  });
  const exit = await peer.exited;
  assert.equal(exit.timedOut, false, exit.stderr);
  return exit.stderr;
}

async function rtspsrc(url: string, user: string, password: string): Promise<string> {
  requirePeer('gst-launch-1.0');
  const peer = spawnPeer(
    'gst-launch-1.0',
    [
      '-q',
      'rtspsrc',
      `location=${url}`,
      `user-id=${user}`,
      `user-pw=${password}`,
      'protocols=tcp',
      '!',
      'fakesink',
    ],
    { timeoutMs: 10_000 },
  );
  const exit = await peer.exited;
  assert.equal(exit.timedOut, false, exit.stderr);
  return exit.stderr + exit.stdout;
}

function accepted(server: AuthServer, method: string): Seen[] {
  return server.seen.filter((seen) => seen.method === method && seen.verdict.ok);
}

describe('ViewerAuth with real clients', () => {
  const servers: AuthServer[] = [];
  after(async () => {
    await stopAllPeers();
    await Promise.all(servers.map((server) => server.close()));
  });

  async function start(
    auth: ViewerAuth,
    onVerdict?: (seen: Seen) => void,
  ): Promise<[AuthServer, number]> {
    const server = new AuthServer(auth, onVerdict);
    servers.push(server);
    return [server, await server.listen()];
  }

  it(
    'ffprobe answers the Digest challenge with qop=auth, and is let in',
    { timeout: 20_000 },
    async () => {
      const [server, port] = await start(new ViewerAuth(CONFIG));
      await ffprobe(`rtsp://alice:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/cam`);
      assert.equal(server.seen[0]?.authorization, undefined);
      assert.equal(refusal(server.seen[0]?.verdict ?? { ok: true, user: null }).reason, 'missing');
      const describes = accepted(server, 'DESCRIBE');
      assert.equal(describes.length, 1, JSON.stringify(server.seen));
      const params = parseWwwAuthenticate(describes[0]?.authorization ?? '')?.params;
      assert.ok(params !== undefined);
      assert.equal(params.username, 'alice');
      assert.equal(params.qop, 'auth');
      assert.equal(params.uri, `rtsp://127.0.0.1:${port}/cam`);
      assert.deepEqual(describes[0]?.verdict, { ok: true, user: 'alice' });
    },
  );

  it('ffprobe with a wrong password is refused', { timeout: 20_000 }, async () => {
    const [server, port] = await start(new ViewerAuth(CONFIG));
    const stderr = await ffprobe(`rtsp://alice:wrong@127.0.0.1:${port}/cam`);
    assert.match(stderr, /401/);
    const tried = server.seen.filter((seen) => seen.authorization !== undefined);
    assert.ok(tried.length > 0);
    for (const seen of tried) {
      assert.match(seen.authorization ?? '', /^Digest /);
      assert.equal(refusal(seen.verdict).reason, 'bad-credentials');
    }
    assert.equal(accepted(server, 'DESCRIBE').length, 0);
  });

  it('ffprobe retries by itself when told its nonce is stale', { timeout: 20_000 }, async () => {
    let now = Date.now();
    const auth = new ViewerAuth(CONFIG, { now: () => now });
    const [server, port] = await start(auth, (seen) => {
      // Once OPTIONS got in, the nonce ffmpeg holds grows old.
      if (seen.method === 'OPTIONS' && seen.verdict.ok) now += NONCE_LIFETIME_MS + 1;
    });
    await ffprobe(`rtsp://alice:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/cam`);
    const describes = server.seen.filter((seen) => seen.method === 'DESCRIBE');
    assert.deepEqual(
      describes.map((seen) => (seen.verdict.ok ? 'ok' : seen.verdict.reason)),
      ['stale-nonce', 'ok'],
    );
  });

  it('ffprobe with a token in the URL needs no password', { timeout: 20_000 }, async () => {
    const [server, port] = await start(new ViewerAuth(CONFIG));
    await ffprobe(`rtsp://127.0.0.1:${port}/cam?token=${TOKEN}`);
    assert.equal(accepted(server, 'DESCRIBE').length, 1, JSON.stringify(server.seen));
    assert.ok(server.seen.every((seen) => seen.authorization === undefined));
  });

  it(
    'GStreamer rtspsrc answers Digest without qop, and is let in',
    { timeout: 20_000 },
    async () => {
      const [server, port] = await start(new ViewerAuth(CONFIG));
      await rtspsrc(`rtsp://127.0.0.1:${port}/cam`, 'alice', PASSWORD);
      const describes = accepted(server, 'DESCRIBE');
      assert.equal(describes.length, 1, JSON.stringify(server.seen));
      const params = parseWwwAuthenticate(describes[0]?.authorization ?? '')?.params;
      assert.ok(params !== undefined);
      assert.equal(params.username, 'alice');
      assert.equal(params.qop, undefined);
    },
  );

  it(
    'GStreamer rtspsrc with Basic only, right and wrong password',
    { timeout: 30_000 },
    async () => {
      const auth = new ViewerAuth({ ...CONFIG, methods: ['basic'] });
      const [server, port] = await start(auth);
      await rtspsrc(`rtsp://127.0.0.1:${port}/cam`, 'alice', PASSWORD);
      const describes = accepted(server, 'DESCRIBE');
      assert.equal(describes.length, 1, JSON.stringify(server.seen));
      assert.match(describes[0]?.authorization ?? '', /^Basic /);
      server.seen.length = 0;
      await rtspsrc(`rtsp://127.0.0.1:${port}/cam`, 'alice', 'wrong');
      assert.ok(
        server.seen.some((seen) => !seen.verdict.ok && seen.verdict.reason === 'bad-credentials'),
      );
      assert.equal(accepted(server, 'DESCRIBE').length, 0);
    },
  );
});
