/**
 * bench:http-path's rig (loadtests/http/path-rig.ts) against the bench's real
 * nginx: both paths, streammesh's HttpService and the bare forwarders in one
 * thread, must forward all three protocols whole (HTTP/1.1 and HTTP/2
 * bodies, gRPC status and message in trailers), with the frame guard on and
 * off, or the CPU per request compared would not be per whole exchange.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PROTOCOLS } from '../../../loadtests/http/endpoints.js';
import { BARE, STREAMMESH, startPathRig } from '../../../loadtests/http/path-rig.js';
import { checkAnswers } from '../../../loadtests/http/smoke.js';
import { HTTP2_FRAME_CHECKS } from '../../../src/config/http-schema.js';
import { stopAllPeers } from '../../helpers/peers/process.js';

describe('bench:http-path rig', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    await stopAllPeers();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  for (const frameCheck of HTTP2_FRAME_CHECKS) {
    const others = HTTP2_FRAME_CHECKS.filter((check) => check !== frameCheck);
    it(`every path forwards every protocol (frame check ${frameCheck}, and ${others.join(', ')} beside it)`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'path-rig-test-'));
      dirs.push(dir);
      const rig = await startPathRig(dir, [frameCheck, ...others], 60_000);
      try {
        for (const protocol of PROTOCOLS) {
          const paths = Object.keys(rig.ports[protocol]).sort();
          const expected = [BARE, STREAMMESH];
          if (protocol !== 'http1')
            expected.push(...others.map((check) => `${STREAMMESH}-${check}`));
          assert.deepEqual(paths, expected.sort());
          for (const path of paths) await checkAnswers(protocol, rig.ports[protocol][path] ?? 0);
        }
      } finally {
        await rig.close();
      }
    });
  }
});
