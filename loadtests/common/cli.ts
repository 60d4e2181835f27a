/** Command-line helpers every benchmark uses. */
import { stopAllPeers } from '../../test/helpers/peers/process.js';

/** `text` as an integer in [min, max]; `fallback` when absent; throws naming the bounds. */
export function int(text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number.parseInt(text, 10);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`expected an integer in [${min}, ${max}], got "${text}"`);
  }
  return value;
}

/** Progress goes to stderr; stdout is the result table. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Runs a benchmark's `main`: Ctrl-C stops every peer it started (and runs
 * `cleanup`) before exiting 130; a failure is logged with its stack and
 * exits 1, so a partial run never looks like a result.
 */
export async function runBench(
  name: string,
  main: () => Promise<void>,
  interrupt: { readonly message: string; readonly cleanup?: () => void },
): Promise<void> {
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) return;
    interrupted = true;
    log(`interrupted: ${interrupt.message}`);
    void stopAllPeers().then(() => {
      interrupt.cleanup?.();
      process.exit(130);
    });
  });
  try {
    await main();
  } catch (error) {
    log(
      `${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exitCode = 1;
  }
}
