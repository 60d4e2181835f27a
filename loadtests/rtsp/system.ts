/**
 * Machine-wide counters over a measurement window: how busy all cores were
 * (/proc/stat), and UDP datagrams the kernel dropped because a socket's
 * receive buffer was full (/proc/net/snmp RcvbufErrors): on this loopback
 * benchmark, a viewer (or the proxy's camera socket) that did not read in time.
 */
import { readFileSync } from 'node:fs';

export interface SystemSample {
  /** Jiffies per state summed over all cores. */
  readonly busy: number;
  readonly total: number;
  readonly steal: number;
  /** Interrupt and softirq time (loopback packet delivery runs there, billed to no process). */
  readonly softirq: number;
  readonly udpRcvbufErrors: number;
  readonly udpSndbufErrors: number;
}

export function systemSample(): SystemSample {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const fields = cpu.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const steal = fields[7] ?? 0;
  const udp = udpCounters();
  return {
    busy: total - idle - steal,
    total,
    steal,
    softirq: (fields[5] ?? 0) + (fields[6] ?? 0),
    udpRcvbufErrors: udp['RcvbufErrors'] ?? 0,
    udpSndbufErrors: udp['SndbufErrors'] ?? 0,
  };
}

export interface SystemWindow {
  /** Cores busy (all processes), e.g. 1.6 of 2. */
  readonly busyCores: number;
  /** Cores the hypervisor took (steal). */
  readonly stealCores: number;
  /** Of busyCores: interrupt and softirq time. */
  readonly softirqCores: number;
  readonly udpRcvbufErrors: number;
  readonly udpSndbufErrors: number;
}

export function systemWindow(
  before: SystemSample,
  after: SystemSample,
  cores: number,
): SystemWindow {
  const total = after.total - before.total;
  const share = (value: number): number => (total <= 0 ? 0 : (value / total) * cores);
  return {
    busyCores: share(after.busy - before.busy),
    stealCores: share(after.steal - before.steal),
    softirqCores: share(after.softirq - before.softirq),
    udpRcvbufErrors: after.udpRcvbufErrors - before.udpRcvbufErrors,
    udpSndbufErrors: after.udpSndbufErrors - before.udpSndbufErrors,
  };
}

function udpCounters(): Record<string, number> {
  let text = '';
  try {
    text = readFileSync('/proc/net/snmp', 'utf8');
  } catch {
    return {};
  }
  const lines = text.split('\n').filter((line) => line.startsWith('Udp:'));
  const names = lines[0]?.split(/\s+/).slice(1) ?? [];
  const values = lines[1]?.split(/\s+/).slice(1).map(Number) ?? [];
  return Object.fromEntries(names.map((name, i) => [name, values[i] ?? 0]));
}
