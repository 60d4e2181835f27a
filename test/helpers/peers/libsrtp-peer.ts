/**
 * Drives libsrtp-peer.c: libsrtp2, the reference SRTP implementation (the one
 * in Chrome and Firefox), as an independent peer for the interop tests. The C
 * file is compiled once per test process against the system's libsrtp2; where
 * there is no C compiler or libsrtp2, start() says why and the tests skip.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { SrtpKeyingMaterial, SrtpProfile } from '../../../src/protocol/srtp/index.js';
import { packageRoot } from '../../../src/shared/package-root.js';

/** libsrtp's srtp_profile_t, which are the DTLS-SRTP code points (RFC 5764, RFC 7714 §14.2). */
const profileNumbers: Readonly<Record<SrtpProfile, number>> = {
  AES_CM_128_HMAC_SHA1_80: 1,
  AES_CM_128_HMAC_SHA1_32: 2,
  AEAD_AES_128_GCM: 7,
  AEAD_AES_256_GCM: 8,
};

/** libsrtp's srtp_err_status_t values that the tests compare against. */
export const libsrtpStatus = {
  badParam: 2,
  authFail: 7,
  replayFail: 9,
  replayOld: 10,
  parseError: 21,
} as const;

export type PeerOperation = 'p' | 'u' | 'pc' | 'uc';
export type PeerReply =
  { readonly ok: true; readonly packet: Buffer } | { readonly ok: false; readonly status: number };

let build: { readonly binary: string } | { readonly unavailable: string } | undefined;

/** The compiled peer, or why it cannot be built here. */
export function libsrtpPeerBuild(): { readonly binary: string } | { readonly unavailable: string } {
  if (build !== undefined) return build;
  const source = join(packageRoot(), 'test', 'helpers', 'peers', 'libsrtp-peer.c');
  const directory = mkdtempSync(join(tmpdir(), 'streammesh-libsrtp-'));
  process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
  const binary = join(directory, 'libsrtp-peer');
  const result = spawnSync('cc', ['-O2', '-o', binary, source, '-lsrtp2'], { encoding: 'utf8' });
  build =
    result.status === 0
      ? { binary }
      : {
          unavailable: `cannot build the libsrtp2 peer (needs cc and libsrtp2-dev): ${
            result.error?.message ?? result.stderr.trim()
          }`,
        };
  return build;
}

export class LibsrtpPeer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  #exited = false;
  #stderr = '';

  constructor(binary: string, keys: SrtpKeyingMaterial, replayWindow = 128) {
    const keySalt = Buffer.concat([keys.masterKey, keys.masterSalt]).toString('hex');
    this.#child = spawn(binary, [
      String(profileNumbers[keys.profile]),
      keySalt,
      String(replayWindow),
    ]);
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      this.#lines.push(line);
      this.#wake?.();
    });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    this.#child.on('exit', () => {
      this.#exited = true;
      this.#wake?.();
    });
  }

  /** Sends all requests, then collects one reply per request, in order. */
  async run(requests: readonly (readonly [PeerOperation, Buffer])[]): Promise<PeerReply[]> {
    for (const [operation, packet] of requests) {
      this.#child.stdin.write(`${operation} ${packet.toString('hex')}\n`);
    }
    const replies: PeerReply[] = [];
    while (replies.length < requests.length) {
      const line = this.#lines.shift();
      if (line !== undefined) {
        replies.push(parseReply(line));
        continue;
      }
      if (this.#exited) throw new Error(`libsrtp peer exited: ${this.#stderr}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
    return replies;
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end();
    await exited;
  }
}

function parseReply(line: string): PeerReply {
  const [kind, value = ''] = line.split(' ');
  if (kind === 'ok') return { ok: true, packet: Buffer.from(value, 'hex') };
  if (kind === 'err') return { ok: false, status: Number(value) };
  throw new Error(`unexpected libsrtp peer output: ${line}`);
}
