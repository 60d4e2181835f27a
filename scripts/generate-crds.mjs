// Writes helm/streammesh/crds/*.yaml from the built generator
// (src/control-plane/kubernetes/custom-resources/crd-manifests.ts, which
// derives them from the config's zod schemas). Run after `npm run build`;
// test/unit/control-plane/kubernetes/custom-resources-crds.test.ts fails
// when the committed files differ from what this writes.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { crdYaml } = await import(
  join(root, 'dist/src/control-plane/kubernetes/custom-resources/index.js')
);
const dir = join(root, 'helm/streammesh/crds');
mkdirSync(dir, { recursive: true });
const files = crdYaml();
for (const name of readdirSync(dir)) {
  if (name.endsWith('.streammesh.io.yaml') && !files.has(name)) rmSync(join(dir, name));
}
for (const [name, text] of files) {
  writeFileSync(join(dir, name), text);
  console.log(`wrote ${join('helm/streammesh/crds', name)}`);
}
