// Builds the demo page (signaling/demo/page) into dist/demo-page with esbuild:
// one entry bundled with mediasoup-client, its CSS beside it, both named by
// content hash so the server can let browsers cache them for good; index.html
// is written last with those names (the server sends it with no-cache).
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = join(root, 'signaling/demo/page');
const outdir = join(root, 'dist/demo-page');
const entry = join(source, 'main.ts');

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
const result = await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  tsconfig: join(source, 'tsconfig.json'),
  outdir,
  entryNames: 'app-[hash]',
  assetNames: '[name]-[hash]',
  minify: true,
  sourcemap: true,
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const [script, output] =
  Object.entries(result.metafile.outputs).find(
    ([, out]) => out.entryPoint !== undefined && join(root, out.entryPoint) === entry,
  ) ?? [];
if (script === undefined || output?.cssBundle === undefined) {
  throw new Error('esbuild did not report the demo bundle and its CSS');
}
const template = await readFile(join(source, 'index.html'), 'utf8');
const assetUrl = (file) => `/demo/${basename(file)}`;
const html = template
  .replace('%SCRIPT%', assetUrl(script))
  .replace('%STYLE%', assetUrl(output.cssBundle));
await writeFile(join(outdir, 'index.html'), html);
console.log(`demo page: ${relative(root, outdir)}/ (${basename(script)})`);
