/**
 * The architecture's import boundaries are checked by `npm run check` (the
 * project's ESLint rules in eslint/): each case here is an import written in a
 * file of one layer or module, which the rules must allow or refuse. The files are
 * virtual (linted as text under the path given); the rest of the tree is read
 * from disk, as the real check reads it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { repoRoot } from '../../helpers/process.js';

interface Case {
  readonly file: string;
  readonly code: string;
  /** The message the check must give, or null when the import is allowed. */
  readonly refused: RegExp | null;
}

const cases: readonly Case[] = [
  {
    file: 'signaling/cameras/reach-in.ts',
    code: "import { startProxy } from '../../rtp-proxy/index.js';",
    refused: /signaling\/cameras\/reach-in\.ts may not import rtp-proxy\/index\.js/,
  },
  {
    file: 'rtp-proxy/media/relay/reach-up.ts',
    code: "import { startControlPlane } from '../../../src/control-plane/index.js';",
    refused: /rtp-proxy\/media stands on .*src\/node-agent only/,
  },
  {
    file: 'rtp-proxy/l7/router/reach-across.ts',
    code: "export { MediaRouteTable } from '../../media/relay/index.js';",
    refused: /rtp-proxy\/l7\/router\/reach-across\.ts may not import rtp-proxy\/media/,
  },
  {
    file: 'src/shared/reach-up.ts',
    code: "import type { MeshConfig } from '../config/index.js';",
    refused: /src\/shared stands on nothing else/,
  },
  {
    file: 'src/protocol/rtp/reach-up.ts',
    code: "const media = await import('../../media/quality/index.js');\nexport { media };",
    refused: /src\/protocol stands on src\/shared only/,
  },
  {
    file: 'src/control-plane/reach-down.ts',
    code: "import { startProxy } from '../../rtp-proxy/index.js';\nexport { startProxy };",
    refused: /src\/control-plane\/reach-down\.ts may not import rtp-proxy\/index\.js/,
  },
  {
    file: 'src/media/reach-tests.ts',
    code: "import { freePort } from '../../test/helpers/ports.js';\nexport { freePort };",
    refused: /the product never imports tests/,
  },
  {
    file: 'rtp-proxy/media/rtsp/reach-deep.ts',
    code: "import { bindPair } from '../../../src/media/udp/port-allocator.js';\nexport { bindPair };",
    refused:
      /src\/media\/udp\/port-allocator\.ts is inside the module src\/media\/udp: import it from src\/media\/udp\/index\.js/,
  },
  {
    file: 'rtp-proxy/media/rtsp/through-entry.ts',
    code: "import { bindPair } from '../../../src/media/udp/index.js';\nexport { bindPair };",
    refused: null,
  },
  {
    file: 'src/media/udp/same-module.ts',
    code: "import { bindPair } from './port-allocator.js';\nexport { bindPair };",
    refused: null,
  },
  {
    file: 'signaling/cameras/allowed.ts',
    code: "import { CameraSource } from '../../src/media/rtsp-client/index.js';\nexport { CameraSource };",
    refused: null,
  },
  {
    file: 'src/cli/allowed.ts',
    code: "import { startSignaling } from '../../signaling/index.js';\nexport { startSignaling };",
    refused: null,
  },
];

async function loadRule(file: string, name: string): Promise<unknown> {
  const module = (await import(pathToFileURL(join(repoRoot, 'eslint', file)).href)) as Record<
    string,
    unknown
  >;
  return module[name];
}

async function boundaryLinter(): Promise<ESLint> {
  const plugin = {
    rules: {
      'import-layers': await loadRule('import-layers.js', 'importLayersRule'),
      'import-cycles': await loadRule('import-cycles.js', 'importCyclesRule'),
      'import-entries': await loadRule('import-entries.js', 'importEntriesRule'),
    },
  } as unknown as ESLint.Plugin;
  const config: Linter.Config = {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { streammesh: plugin },
    rules: {
      'streammesh/import-layers': ['error', { root: repoRoot }],
      'streammesh/import-cycles': ['error', { root: repoRoot }],
      'streammesh/import-entries': ['error', { root: repoRoot }],
    },
  };
  return new ESLint({ cwd: repoRoot, overrideConfigFile: true, overrideConfig: config });
}

describe('import boundaries', () => {
  it('refuses an import against the layers and allows one with them', async () => {
    const eslint = await boundaryLinter();
    for (const { file, code, refused } of cases) {
      const [result] = await eslint.lintText(code, { filePath: join(repoRoot, file) });
      const messages = (result?.messages ?? []).map((message) => message.message);
      if (refused === null) {
        assert.deepEqual(messages, [], file);
      } else {
        assert.equal(messages.length, 1, `${file}: ${messages.join('; ')}`);
        assert.match(messages[0] ?? '', refused, file);
      }
    }
  });

  it('refuses an import cycle, type-only imports included', async () => {
    const eslint = await boundaryLinter();
    // port-allocator.ts imports udp-io.ts; udp-io.ts importing it back closes a loop.
    const [cyclic] = await eslint.lintText(
      "import type { UdpIoKind } from './udp-io.js';\nexport type { UdpIoKind };",
      { filePath: join(repoRoot, 'src/media/udp/port-allocator.ts') },
    );
    assert.deepEqual(cyclic?.messages ?? [], [], 'port-allocator -> udp-io is no cycle');
    const [loop] = await eslint.lintText(
      "import type { PortAllocator } from './port-allocator.js';\nexport type { PortAllocator };",
      { filePath: join(repoRoot, 'src/media/udp/udp-io.ts') },
    );
    const cycleMessages = (loop?.messages ?? []).map((m) => m.message);
    assert.equal(cycleMessages.length, 1, cycleMessages.join('; '));
    assert.match(
      cycleMessages[0] ?? '',
      /import cycle: src\/media\/udp\/udp-io\.ts -> src\/media\/udp\/port-allocator\.ts -> src\/media\/udp\/udp-io\.ts/,
    );
  });

  it('is switched on for every TypeScript file by the repository config (npm run check)', async () => {
    const eslint = new ESLint({ cwd: repoRoot });
    for (const file of ['src/media/udp/udp.ts', 'rtp-proxy/index.ts', 'signaling/index.ts']) {
      const config = (await eslint.calculateConfigForFile(join(repoRoot, file))) as Linter.Config;
      for (const rule of [
        'streammesh/import-layers',
        'streammesh/import-cycles',
        'streammesh/import-entries',
      ]) {
        const setting = config.rules?.[rule];
        const severity = Array.isArray(setting) ? setting[0] : setting;
        assert.ok(
          severity === 2 || severity === 'error',
          `${rule} on ${file}: ${String(severity)}`,
        );
      }
    }
  });
});
