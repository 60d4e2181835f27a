/**
 * bench:http-path's rig (loadtests/http/path-rig.ts) against the bench's real
 * nginx: both paths, streammesh's HttpService and the bare forwarders in one
 * thread, must forward all three protocols whole (HTTP/1.1 and HTTP/2
 * bodies, gRPC status and message in trailers), with the frame guard on and
 * off, or the CPU per request compared would not be per whole exchange.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PROTOCOLS } from '../../../loadtests/http/endpoints.js';
import { PATHS, startPathRig } from '../../../loadtests/http/path-rig.js';
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
    it(`both paths forward every protocol (frame check ${frameCheck})`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'path-rig-test-'));
      dirs.push(dir);
      const rig = await startPathRig(dir, frameCheck, 60_000);
      try {
        for (const protocol of PROTOCOLS) {
          for (const path of PATHS) await checkAnswers(protocol, rig.ports[protocol][path]);
        }
      } finally {
        await rig.close();
      }
    });
  }
});
