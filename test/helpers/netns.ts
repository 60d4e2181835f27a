/**
 * Separate network stacks on one machine, for tests that need a real link
 * between processes (one that can lose packets, be captured on, receive
 * forged datagrams) rather than the shared loopback: one Linux network
 * namespace per node, each joined by a veth pair to one bridge in the root
 * namespace, all on a private /24 (10.77.N.0/24, the bridge .1, nodes .11 up).
 *
 * Why a bridge and not a /30 per node: node-to-node traffic then stays at
 * layer 2, so the root namespace needs no ip_forward (a machine-wide switch
 * other tests share). Each node's root-side veth carries exactly that node's
 * traffic: it is where a capture of one leg listens.
 *
 * Why iptables and not netem: this kernel has no sch_netem, so the nearest
 * honest lossy link is `-m statistic --mode random` DROP inside the
 * receiver's namespace (loss only; no delay or reordering).
 *
 * Everything is named after the test's pid (unique per run) and removed by
 * name in close(), also at process exit if a test never got there. Needs
 * root; `netnsUnavailable()` says why not, for a test's skip.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { startStreammesh, type Running } from './process.js';
import { spawnPeer } from './peers/process.js';

export interface NetnsNode {
  readonly name: string;
  /** The namespace's name (`ip netns exec <ns>`). */
  readonly ns: string;
  /** Its address on the bridge. */
  readonly address: string;
  /** Its veth end in the root namespace: captures of this node's traffic listen here. */
  readonly rootLink: string;
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, veth, iptables)';
  const probe = `smprobe${process.pid}`;
  const added = run(['ip', 'netns', 'add', probe]);
  if (added !== undefined) return `ip netns add fails: ${added}`;
  try {
    const lo = run(['ip', '-n', probe, 'link', 'set', 'lo', 'up']);
    if (lo !== undefined) return `ip -n <ns> link fails: ${lo}`;
    const statistic = run([
      ...['ip', 'netns', 'exec', probe, 'iptables', '-A', 'INPUT', '-p', 'udp'],
      ...['-m', 'statistic', '--mode', 'random', '--probability', '0.5', '-j', 'DROP'],
    ]);
    if (statistic !== undefined) return `iptables -m statistic fails in a namespace: ${statistic}`;
  } finally {
    run(['ip', 'netns', 'del', probe]);
  }
  return undefined;
}

export class NetnsLab {
  readonly bridge: string;
  /** The bridge's address: what the namespaces reach the root namespace at. */
  readonly rootAddress: string;
  readonly nodes: readonly NetnsNode[];
  readonly #children = new Set<ChildProcess>();
  readonly #cleanupAtExit = (): void => this.#remove();
  #closed = false;

  private constructor(bridge: string, rootAddress: string, nodes: NetnsNode[]) {
    this.bridge = bridge;
    this.rootAddress = rootAddress;
    this.nodes = nodes;
    process.on('exit', this.#cleanupAtExit);
  }

  /**
   * A bridge and one namespace per name (at most 26). Throws, having removed
   * what it made, when a step fails.
   */
  static create(names: readonly string[]): NetnsLab {
    const tag = String(process.pid);
    // The third octet from the pid, so two runs at once do not share a subnet.
    const subnet = `10.77.${(process.pid % 200) + 20}`;
    const nodes = names.map((name, index) => {
      const letter = String.fromCharCode(97 + index);
      return {
        name,
        ns: `sm-${tag}-${letter}`,
        address: `${subnet}.${11 + index}`,
        rootLink: `smv${tag}${letter}`,
      };
    });
    const lab = new NetnsLab(`smb${tag}`, `${subnet}.1`, nodes);
    try {
      lab.#must(['ip', 'link', 'add', lab.bridge, 'type', 'bridge']);
      lab.#must(['ip', 'addr', 'add', `${lab.rootAddress}/24`, 'dev', lab.bridge]);
      lab.#must(['ip', 'link', 'set', lab.bridge, 'up']);
      for (const node of nodes) {
        const inner = `smp${tag}${node.rootLink.slice(-1)}`;
        lab.#must(['ip', 'netns', 'add', node.ns]);
        lab.#must(['ip', 'link', 'add', node.rootLink, 'type', 'veth', 'peer', 'name', inner]);
        lab.#must(['ip', 'link', 'set', inner, 'netns', node.ns]);
        lab.#must(['ip', 'link', 'set', node.rootLink, 'master', lab.bridge, 'up']);
        lab.#must(['ip', '-n', node.ns, 'addr', 'add', `${node.address}/24`, 'dev', inner]);
        lab.#must(['ip', '-n', node.ns, 'link', 'set', inner, 'up']);
        lab.#must(['ip', '-n', node.ns, 'link', 'set', 'lo', 'up']);
      }
    } catch (error) {
      lab.close();
      throw error;
    }
    return lab;
  }

  node(name: string): NetnsNode {
    const node = this.nodes.find((candidate) => candidate.name === name);
    if (node === undefined) throw new Error(`no namespace for ${name}`);
    return node;
  }

  /**
   * `streammesh <args>` inside `node`'s namespace (`ip netns exec` execs
   * node, so the child's pid is the proxy's own and stop() signals it).
   */
  startStreammesh(
    node: NetnsNode,
    args: readonly string[],
    env: Readonly<Record<string, string>>,
  ): Running {
    const running = startStreammesh(args, env, ['ip', 'netns', 'exec', node.ns]);
    const { child } = running;
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return running;
  }

  /**
   * Drops each UDP datagram from `from` arriving in `node`'s namespace with
   * `probability` (iptables statistic, INPUT). Returns the rule's removal.
   */
  dropUdpRandomly(node: NetnsNode, from: string, probability: number): () => void {
    const rule = [
      ...['INPUT', '-p', 'udp', '-s', from],
      ...[
        '-m',
        'statistic',
        '--mode',
        'random',
        '--probability',
        String(probability),
        '-j',
        'DROP',
      ],
    ];
    this.#must(['ip', 'netns', 'exec', node.ns, 'iptables', '-A', ...rule]);
    return () => {
      run(['ip', 'netns', 'exec', node.ns, 'iptables', '-D', ...rule]);
    };
  }

  /** The packet counter of `node`'s INPUT rules that DROP (what iptables dropped so far). */
  droppedByRules(node: NetnsNode): number {
    const listed = spawnSync(
      'ip',
      ['netns', 'exec', node.ns, 'iptables', '-L', 'INPUT', '-v', '-n', '-x'],
      { encoding: 'utf8' },
    ).stdout;
    let dropped = 0;
    for (const line of listed.split('\n')) {
      const [packets, , target] = line.trim().split(/\s+/);
      if (target === 'DROP') dropped += Number.parseInt(packets ?? '0', 10);
    }
    return dropped;
  }

  /** Stops what it started in the namespaces, then removes the links, namespaces and bridge. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    process.off('exit', this.#cleanupAtExit);
    this.#remove();
  }

  #remove(): void {
    for (const child of this.#children) child.kill('SIGKILL');
    // Deleting a veth end deletes its peer; the namespace goes with what is left in it.
    for (const node of this.nodes) {
      run(['ip', 'link', 'del', node.rootLink]);
      run(['ip', 'netns', 'del', node.ns]);
    }
    run(['ip', 'link', 'del', this.bridge]);
  }

  #must(args: readonly string[]): void {
    const failed = run(args);
    if (failed !== undefined) throw new Error(`${args.join(' ')}: ${failed}`);
  }
}

/** Runs a short command; its error text when it fails, else undefined. */
function run(args: readonly string[]): string | undefined {
  const [command, ...rest] = args;
  const result = spawnSync(command ?? '', rest, { encoding: 'utf8', timeout: 10_000 });
  if (result.status === 0) return undefined;
  return (result.stderr || result.error?.message || `exit ${String(result.status)}`).trim();
}

/**
 * A TCP port on `host` that forwards every connection to 127.0.0.1:`port`:
 * lets the namespaces reach a server that listens on loopback only (the
 * test camera, rtsp-camera.py, binds 127.0.0.1).
 */
export async function forwardTcp(
  host: string,
  port: number,
): Promise<{ readonly port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect({ host: '127.0.0.1', port });
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no forward port');
  return {
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ForgedDatagram {
  /** The source it claims: an address and port that are not the sender's. */
  readonly from: { readonly host: string; readonly port: number };
  readonly to: { readonly host: string; readonly port: number };
  readonly payload: Buffer;
}

/**
 * Sends UDP datagrams with a forged source (a raw IPv4 socket, root only):
 * how a test makes a datagram look as if it came from a hop's peer, so it
 * gets past the source check and reaches the SRTP checks behind it. The
 * UDP checksum is 0 (none, allowed over IPv4); the kernel fills in the IP
 * checksum. Python, because Node has no raw sockets.
 */
export async function sendForgedUdp(datagrams: readonly ForgedDatagram[]): Promise<void> {
  const script = [
    'import json, socket, struct, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
    'for d in json.loads(sys.argv[1]):',
    '    payload = bytes.fromhex(d["payload"])',
    '    udp = struct.pack("!HHHH", d["sport"], d["dport"], 8 + len(payload), 0) + payload',
    '    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,',
    '                     socket.inet_aton(d["src"]), socket.inet_aton(d["dst"]))',
    '    s.sendto(ip + udp, (d["dst"], 0))',
    'print("sent", len(json.loads(sys.argv[1])))',
  ].join('\n');
  const json = JSON.stringify(
    datagrams.map(({ from, to, payload }) => ({
      src: from.host,
      sport: from.port,
      dst: to.host,
      dport: to.port,
      payload: payload.toString('hex'),
    })),
  );
  const exit = await spawnPeer('/usr/bin/python3', ['-c', script, json], { timeoutMs: 10_000 })
    .exited;
  if (exit.code !== 0) throw new Error(`forged UDP send failed (${exit.code}):\n${exit.stderr}`);
}
