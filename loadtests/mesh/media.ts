/**
 * The media part of `npm run bench:mesh` (issue 16): what the camera mesh
 * costs per viewer. One camera (GStreamer's RTSP server, a fixed bitrate of
 * noise so the encoder spends all of it) and V viewers, in two setups side
 * by side in one run:
 *
 *   A (oneProxy)      control plane + 1 proxy, all V viewers on it;
 *   B (threeProxies)  control plane + 3 proxies (127.0.0.11-13), V/3 on each:
 *                     the owner pulls the camera, the two edges get it from
 *                     the owner over an SRTP hop.
 *
 * Each setup starts from fresh processes (media-mesh.ts), opens its viewers
 * (light RTSP clients over TCP-interleaved in this process, counting RTP by
 * sequence number: loadtests/rtsp/viewer.ts), waits until each has its first
 * packet, warms up, then over a fixed window reads utime+stime from
 * /proc/<pid>/stat of every proxy (summed), the control plane (apart), the
 * camera and this process, and counts the packets the viewers received and
 * lost. CPU per viewer = proxy CPU / window / V; it is compared B/A. The
 * camera's sessions while the setup ran must be 1 in both. `runs` runs,
 * A and B alternating which goes first; medians.
 *
 * A setup where a viewer receives nothing in the window fails the part: a
 * CPU figure for viewers that got no stream would be meaningless.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { errorMessage } from '../../src/shared/errors.js';
import { freePort } from '../../test/helpers/ports.js';
import { waitFor } from '../../test/helpers/process.js';
import { log } from '../common/cli.js';
import { coresUsed, cpuSample } from '../rtp/cpu.js';
import { formattedJson } from '../rtp/report.js';
import { median, round } from '../rtp/stats.js';
import { systemSample, systemWindow } from '../rtsp/system.js';
import { Camera, sleep } from '../rtsp/targets.js';
import { LightViewer } from '../rtsp/viewer.js';
import { MediaMesh, type MeshProxy } from './media-mesh.js';
import { meshResultHeader } from './results.js';
import { mediaTable, summarizeMedia } from './media-report.js';
import {
  MEDIA_SETUPS,
  type MediaParameters,
  type MediaResults,
  type MediaSetupName,
  type MediaSetupRun,
} from './media-results.js';

/** Handshakes at a time while viewers open. */
const OPEN_CONCURRENCY = 10;
const OPEN_TIMEOUT_MS = 10_000;
/** Bound on every viewer having its first packet (an edge waits for its hop, a joiner for a keyframe). */
const FIRST_PACKET_TIMEOUT_MS = 20_000;
/** GET_PARAMETER keepalive (the proxy's session timeout is 60 s). */
const KEEPALIVE_MS = 15_000;
/** Hard bound on each mesh process's life: start, warm-up, window, stop, with room. */
const SETUP_BOUND_MS = 180_000;

/** Runs the media part and writes its JSON (mesh-media.json in `outDir`) and table. */
export async function benchMedia(parameters: MediaParameters, outDir: string): Promise<void> {
  const started = Date.now();
  const runs: MediaSetupRun[] = [];
  const setupCount = parameters.runs * 2;
  const camera = await Camera.start({
    port: await freePort(),
    size: parameters.camera.size,
    bitrateKbps: parameters.camera.bitrateKbps,
    pattern: parameters.camera.pattern,
    timeoutMs: setupCount * SETUP_BOUND_MS + 60_000,
  });
  try {
    for (let run = 0; run < parameters.runs; run++) {
      const order: readonly MediaSetupName[] =
        run % 2 === 0 ? ['oneProxy', 'threeProxies'] : ['threeProxies', 'oneProxy'];
      for (const [index, setup] of order.entries()) {
        log(
          `media run ${run + 1}/${parameters.runs}: ${MEDIA_SETUPS[setup].label}, ${parameters.viewers} viewers`,
        );
        const result = await runSetup(setup, run, index + 1, camera, parameters);
        log(
          `  proxy CPU ${result.proxyCpuSeconds} s in ${result.windowSeconds} s: ${result.proxyMillicoresPerViewer} mCPU/viewer, ${result.packetsDelivered} packets delivered, ${result.packetsLost} lost, camera sessions ${result.cameraSessions}`,
        );
        runs.push(result);
      }
    }
  } finally {
    await camera.stop();
  }
  const results: MediaResults = {
    ...meshResultHeader('mesh-media', started),
    parameters,
    method: [
      `Camera: GStreamer RTSP server (test/helpers/peers/rtsp-camera.py), H.264 ${parameters.camera.size} at 25 fps from videotestsrc pattern=${parameters.camera.pattern}, x264 ${parameters.camera.bitrateKbps} kbit/s; one camera for the whole part, its sessions counted per setup ("session N" lines).`,
      'Setups, each from fresh processes: a control plane and 1 (A) or 3 (B) `streammesh proxy` processes on 127.0.0.11-13 (bin/streammesh.js under coreutils timeout), one RTSP path cam (transport tcp, onDemand false). The control plane places the camera on one proxy (the owner pulls it); in B the two others get it from the owner over an SRTP hop.',
      'Viewers: light RTSP clients in the bench process (loadtests/rtsp/viewer.ts), TCP-interleaved, track 0, RTP counted by sequence number; in B spread round-robin over the three proxies (V/3 each). All connect from 127.0.0.1, so proxy.rtsp.maxConnectionsPerSource is raised to the viewers per proxy + 16.',
      `Each setup: once every proxy serves the path (the owner pulling the camera, in B the edges fed by their hops), ${parameters.settleMs} ms to settle, then an idle window of ${parameters.windowMs} ms with no viewer: each proxy's CPU (idleCores: the mesh's fixed cost). Then open the viewers (${OPEN_CONCURRENCY} handshakes at a time), wait until each has its first packet, warm up ${parameters.warmupMs} ms, then a ${parameters.windowMs} ms window: utime+stime from /proc/<pid>/stat of each proxy (summed: proxyCpuSeconds), of the control plane (reported apart), the camera and this process (viewers); /proc/stat for the machine.`,
      'proxyMillicoresPerViewer = proxyCpuSeconds / window seconds / viewers x 1000; proxyUsPerPacket = proxyCpuSeconds / packets delivered to viewers in the window; marginalMillicoresPerViewer = (proxy cores in the window - idle proxy cores) / viewers x 1000. packetsLost: gaps in numbering per viewer over the window (RFC 3550), summed. cameraSessions: sessions the camera created from the setup start to the end of its window.',
      `${parameters.runs} run(s) of each setup, A and B alternating which goes first; medians per setup; ratios B/A of the medians; aim: B/A CPU per viewer <= 1.3 and one camera session in every run.`,
    ],
    runs,
    ...summarizeMedia(runs, parameters),
  };
  mkdirSync(outDir, { recursive: true });
  const jsonFile = join(outDir, 'mesh-media.json');
  writeFileSync(jsonFile, await formattedJson(jsonFile, results));
  process.stdout.write(`\n${mediaTable(results)}\n`);
  log(`wrote ${jsonFile} in ${results.durationSeconds} s`);
}

async function runSetup(
  setup: MediaSetupName,
  run: number,
  order: number,
  camera: Camera,
  parameters: MediaParameters,
): Promise<MediaSetupRun> {
  const proxyCount = MEDIA_SETUPS[setup].proxies;
  const sessionsBefore = camera.sessions();
  const mesh = await MediaMesh.start({
    cameraUrl: camera.url,
    proxies: proxyCount,
    viewersPerProxy: Math.ceil(parameters.viewers / proxyCount),
    timeoutMs: SETUP_BOUND_MS,
  });
  const viewers: { readonly viewer: LightViewer; readonly proxy: MeshProxy }[] = [];
  try {
    // The mesh with no viewer: the camera pulled, in B the hops flowing (onDemand false),
    // past the processes' first seconds (compiling, first reports), which cost several times more.
    await sleep(parameters.settleMs);
    const idle = await proxyCoresOver(mesh, parameters.windowMs);
    for (let first = 0; first < parameters.viewers; first += OPEN_CONCURRENCY) {
      const batch = Array.from(
        { length: Math.min(OPEN_CONCURRENCY, parameters.viewers - first) },
        (_, offset) => mesh.proxies[(first + offset) % proxyCount],
      ).filter((proxy) => proxy !== undefined);
      const opened = await Promise.allSettled(
        batch.map(async (proxy) => ({
          proxy,
          viewer: await LightViewer.open({
            url: proxy.url,
            transport: 'tcp',
            keepaliveMs: KEEPALIVE_MS,
            timeoutMs: OPEN_TIMEOUT_MS,
            onForeign: () => undefined,
            onRtcp: () => undefined,
          }),
        })),
      );
      // Those that opened are closed in `finally` even when another of the batch failed.
      for (const outcome of opened) if (outcome.status === 'fulfilled') viewers.push(outcome.value);
      const failed = opened.find((outcome) => outcome.status === 'rejected');
      if (failed !== undefined)
        throw new Error(`${setup}: a viewer did not open: ${errorMessage(failed.reason)}`);
    }
    await waitFor(
      () => (viewers.every(({ viewer }) => viewer.counter.received > 0) ? true : undefined),
      FIRST_PACKET_TIMEOUT_MS,
      () =>
        `every viewer's first packet: ${viewers.filter(({ viewer }) => viewer.counter.received === 0).length} of ${viewers.length} have none`,
    );
    await sleep(parameters.warmupMs);

    const pids = {
      proxies: mesh.proxies.map(({ pid }) => pid),
      controlPlane: mesh.controlPlanePid,
      camera: camera.pid,
    };
    const before = {
      proxies: pids.proxies.map((pid) => cpuSample(pid).cpuSeconds),
      controlPlane: cpuSample(pids.controlPlane).cpuSeconds,
      camera: cpuSample(pids.camera).cpuSeconds,
      self: process.cpuUsage(),
      system: systemSample(),
      received: viewers.map(({ viewer }) => viewer.counter.received),
      lost: viewers.map(({ viewer }) => viewer.counter.lost),
      at: performance.now(),
    };
    await sleep(parameters.windowMs);
    const after = {
      proxies: pids.proxies.map((pid) => cpuSample(pid).cpuSeconds),
      controlPlane: cpuSample(pids.controlPlane).cpuSeconds,
      camera: cpuSample(pids.camera).cpuSeconds,
      self: process.cpuUsage(before.self),
      system: systemSample(),
      received: viewers.map(({ viewer }) => viewer.counter.received),
      lost: viewers.map(({ viewer }) => viewer.counter.lost),
      at: performance.now(),
    };
    const windowSeconds = (after.at - before.at) / 1000;

    if (!mesh.running()) throw new Error(`${setup}: a mesh process exited during the window`);
    const perViewer = after.received.map((count, index) => count - (before.received[index] ?? 0));
    const silent = perViewer.filter((count, index) => count === 0 || !viewers[index]?.viewer.alive);
    if (silent.length > 0) {
      throw new Error(
        `${setup}: ${silent.length} viewer(s) received nothing in the window or closed`,
      );
    }
    const packetsDelivered = perViewer.reduce((sum, count) => sum + count, 0);
    const packetsLost = after.lost.reduce(
      (sum, lost, index) => sum + lost - (before.lost[index] ?? 0),
      0,
    );
    const proxyCpu = after.proxies.map((cpu, index) => cpu - (before.proxies[index] ?? 0));
    const proxyCpuSeconds = proxyCpu.reduce((sum, cpu) => sum + cpu, 0);
    const idleCores = idle.reduce((sum, cores) => sum + cores, 0);
    const ownerProxy = mesh.proxies.find(({ id }) => id === mesh.owner);
    const ownerHops = ownerProxy === undefined ? undefined : await mesh.hops(ownerProxy);

    return {
      setup,
      run,
      order,
      windowSeconds: round(windowSeconds, 3),
      owner: mesh.owner,
      proxies: mesh.proxies.map((proxy, index) => ({
        id: proxy.id,
        host: proxy.host,
        role: proxy.id === mesh.owner ? 'owner' : 'edge',
        viewers: viewers.filter((entry) => entry.proxy === proxy).length,
        cpuSeconds: round(proxyCpu[index] ?? 0, 2),
        idleCores: round(idle[index] ?? 0, 3),
      })),
      proxyCpuSeconds: round(proxyCpuSeconds, 2),
      proxyMillicoresPerViewer: round(
        (proxyCpuSeconds / windowSeconds / parameters.viewers) * 1000,
        3,
      ),
      proxyUsPerPacket: round((proxyCpuSeconds / packetsDelivered) * 1e6, 2),
      idleProxyCores: round(idleCores, 3),
      marginalMillicoresPerViewer: round(
        ((proxyCpuSeconds / windowSeconds - idleCores) / parameters.viewers) * 1000,
        3,
      ),
      controlPlaneCpuSeconds: round(after.controlPlane - before.controlPlane, 2),
      cameraCpuSeconds: round(after.camera - before.camera, 2),
      viewersCpuSeconds: round((after.self.user + after.self.system) / 1e6, 2),
      machineBusyCores: round(
        systemWindow(before.system, after.system, cpus().length).busyCores,
        3,
      ),
      packetsDelivered,
      packetsPerViewerMin: Math.min(...perViewer),
      packetsPerViewerMedian: median(perViewer),
      packetsLost,
      streamPacketsPerSecond: round(packetsDelivered / parameters.viewers / windowSeconds, 1),
      cameraSessions: camera.sessions() - sessionsBefore,
      ownerHops: (ownerHops?.sending ?? []).map(({ peer, rtpPackets }) => ({ peer, rtpPackets })),
    };
  } finally {
    await Promise.all(viewers.map(({ viewer }) => viewer.teardown(1_000)));
    await mesh.stop();
  }
}

/** Each proxy's CPU (cores) over `ms`, from /proc/<pid>/stat. */
async function proxyCoresOver(mesh: MediaMesh, ms: number): Promise<number[]> {
  const before = mesh.proxies.map(({ pid }) => cpuSample(pid));
  await sleep(ms);
  return mesh.proxies.map(({ pid }, index) => {
    const first = before[index];
    return first === undefined ? Number.NaN : coresUsed(first, cpuSample(pid));
  });
}
