import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A config with every listener on port 0, so tests never collide on ports. */
export function ephemeralMeshConfig(extra = '', proxyExtra = ''): string {
  return [
    'logLevel: info',
    'controlPlane:',
    '  admin: 127.0.0.1:0',
    '  grpc: 127.0.0.1:0',
    '  heartbeatIntervalMs: 200',
    'proxy:',
    '  admin: 127.0.0.1:0',
    '  rtsp:',
    '    listen: 127.0.0.1:0',
    // More of the proxy section, indented by two (routes, http...).
    proxyExtra,
    'signaling:',
    '  admin: 127.0.0.1:0',
    '  listen: 127.0.0.1:0',
    // Several signaling nodes of a test would all take the default 127.0.0.1:8444.
    '  cascade: { listen: 127.0.0.1:0 }',
    extra,
  ].join('\n');
}

/** Writes `text` to a new temporary directory; returns the file's path. */
export function writeTempConfig(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'streammesh-test-')), 'mesh.yaml');
  writeFileSync(file, text);
  return file;
}
