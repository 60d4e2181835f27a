#!/usr/bin/env node
// The `streammesh` command. The TypeScript is compiled to dist/ by `npm install`
// (the package's prepare script) or `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('streammesh is not built yet: run `npm install` (or `npm run build`).\n');
  process.exit(1);
}
// First, before the roles' modules load: a role started by `up` takes its own process group.
const group = await import(new URL('../dist/src/shared/process-group.js', import.meta.url).href);
group.takeProcessGroupIfAsked();
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
// Long-running commands keep the event loop alive and exit on a signal.
if (code !== 0) process.exit(code);
