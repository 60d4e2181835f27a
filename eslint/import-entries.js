// A module (a folder with an index.ts) is entered through its index.ts: code
// outside the folder imports what the index exports, never a file inside it,
// so a module can rearrange its files without its users noticing. Files in
// the same module import each other directly. Tests may reach inside (they
// test the parts); only the product is checked.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { visitImports } from './visit-imports.js';

const productRoots = ['src', 'rtp-proxy', 'signaling'];

/**
 * Second entries of a module, each a light part of it that code can load
 * without the rest: src/node-agent/transaction.ts is what a worker thread
 * needs of the config transaction, without the control channel's grpc-js.
 */
const secondEntries = [
  'src/node-agent/transaction.ts',
  // What a media worker thread needs of the RTSP module: the viewer tracks it
  // carries (rtp-proxy/media/rtsp/viewer-spread.ts), without the service.
  'rtp-proxy/media/rtsp/viewer-worker.ts',
];

function inside(file, dir) {
  return file.startsWith(dir + path.sep);
}

/** The outermost folder holding `target` but not `importer` that has an index.ts. */
function entryFolder(importer, target, root) {
  let entry;
  for (let dir = path.dirname(target); inside(dir, root); dir = path.dirname(dir)) {
    if (inside(importer, dir)) break;
    if (existsSync(path.join(dir, 'index.ts'))) entry = dir;
  }
  return entry;
}

/** @type {import('eslint').Rule.RuleModule} */
export const importEntriesRule = {
  meta: {
    type: 'problem',
    docs: {
      description: 'Other modules are imported through their index.ts, never a file inside.',
    },
    schema: [
      { type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false },
    ],
    messages: {
      deep: '{{target}} is inside the module {{module}}: import it from {{module}}/index.js',
    },
  },
  create(context) {
    const root = path.resolve(context.options[0]?.root ?? context.cwd);
    const importer = context.filename;
    if (!productRoots.some((dir) => inside(importer, path.join(root, dir)))) return {};

    function check(node, specifier) {
      if (typeof specifier !== 'string' || !specifier.startsWith('.')) return;
      const resolved = path.resolve(path.dirname(importer), specifier);
      const target = resolved.replace(/\.js$/, '.ts');
      const module = entryFolder(importer, target, root);
      if (module === undefined || target === path.join(module, 'index.ts')) return;
      if (secondEntries.some((entry) => target === path.join(root, entry))) return;
      context.report({
        node,
        messageId: 'deep',
        data: { target: path.relative(root, target), module: path.relative(root, module) },
      });
    }

    return visitImports(check);
  },
};
