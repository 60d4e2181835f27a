/** CPU time of a process (all its threads) from /proc/<pid>/stat: utime + stime. */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface CpuSample {
  readonly cpuSeconds: number;
  readonly at: number;
}

export function cpuSample(pid: number): CpuSample {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields after its ')' are fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { cpuSeconds: (utime + stime) / TICKS_PER_SECOND, at: performance.now() };
}

/** Share of one core used between two samples (1 = one core busy). */
export function coresUsed(before: CpuSample, after: CpuSample): number {
  const wallSeconds = (after.at - before.at) / 1000;
  return wallSeconds <= 0 ? 0 : (after.cpuSeconds - before.cpuSeconds) / wallSeconds;
}

/** The parent pid of a process, from /proc/<pid>/stat. */
export function parentPid(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
}
