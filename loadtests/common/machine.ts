/**
 * What every benchmark records about where it ran.
 */
import { spawnSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';

/** First line of a command's output, or 'unknown' when it fails. */
export function commandLine(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 5_000 });
  const output = `${result.stdout}${result.stderr}`.trim();
  return result.status === 0 && output !== '' ? (output.split('\n')[0] ?? '') : 'unknown';
}

/** CPU, memory, kernel, Node, the commit measured and the UDP receive buffer cap. */
export function machineInfo(repoRoot: string): Record<string, unknown> {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 100) / 100,
    kernel: release(),
    node: process.version,
    commit: commandLine('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']),
    rmemMax: commandLine('sysctl', ['-n', 'net.core.rmem_max']),
  };
}
