import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of streammesh's package.json, found by walking up from this
 * module: the same answer whether the code runs from `src/` or from `dist/src/`.
 */
export function packageRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(directory, 'package.json')) && existsSync(join(directory, 'proto'))) {
      return directory;
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error('streammesh package root not found');
    directory = parent;
  }
}
