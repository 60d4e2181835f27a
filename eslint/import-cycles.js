// No import cycles in the product code, type-only imports included: a cycle
// means two modules are one concern split in two, or one of them holds a
// piece that belongs lower. The graph is read from the files on disk (import
// specifiers only), once per lint run.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { visitImports } from './visit-imports.js';

const specifierPattern =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\s*\(\s*['"](\.[^'"]+)['"]\s*\)/g;

const importsCache = new Map();

function resolveSource(fromFile, specifier) {
  const resolved = path.resolve(path.dirname(fromFile), specifier);
  for (const candidate of [resolved.replace(/\.js$/, '.ts'), resolved]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function importsOf(file) {
  let imports = importsCache.get(file);
  if (imports !== undefined) return imports;
  imports = [];
  importsCache.set(file, imports);
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return imports;
  }
  for (const match of text.matchAll(specifierPattern)) {
    const target = resolveSource(file, match[1] ?? match[2]);
    if (target !== undefined) imports.push(target);
  }
  return imports;
}

/** A path of imports from `start` back to `origin`, or undefined. */
function pathBack(start, origin, within) {
  const seen = new Set();
  const stack = [[start, [start]]];
  while (stack.length > 0) {
    const [file, trail] = stack.pop();
    if (file === origin) return trail;
    if (seen.has(file) || !within(file)) continue;
    seen.add(file);
    for (const next of importsOf(file)) stack.push([next, [...trail, next]]);
  }
  return undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
export const importCyclesRule = {
  meta: {
    type: 'problem',
    docs: { description: 'No import cycles between modules of the product.' },
    schema: [
      { type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false },
    ],
    messages: { cycle: 'import cycle: {{cycle}}' },
  },
  create(context) {
    const root = path.resolve(context.options[0]?.root ?? context.cwd);
    const productRoots = ['src', 'rtp-proxy', 'signaling'].map(
      (dir) => path.join(root, dir) + path.sep,
    );
    const within = (file) => productRoots.some((dir) => file.startsWith(dir));
    const origin = context.filename;
    if (!within(origin)) return {};
    const relative = (file) => path.relative(root, file);

    function check(node, specifier) {
      if (typeof specifier !== 'string' || !specifier.startsWith('.')) return;
      const target = resolveSource(origin, specifier);
      if (target === undefined) return;
      const trail = pathBack(target, origin, within);
      if (trail === undefined) return;
      context.report({
        node,
        messageId: 'cycle',
        data: { cycle: [origin, ...trail].map(relative).join(' -> ') },
      });
    }

    return visitImports(check);
  },
};
