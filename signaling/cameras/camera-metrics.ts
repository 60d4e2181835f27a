/**
 * Prometheus view of the cameras pulled into the SFU, read at scrape time.
 * Series are per proxy path, which only exist when the proxy serves them
 * (an unknown path is never pulled), and leave when the pull closes.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface PulledCamera {
  readonly path: string;
  readonly viewers: number;
  /** H.264 packets fed to the SFU since the pull opened. */
  readonly packets: number;
}

export interface CameraMetrics {
  /** The pull of `path` closed: its series go. */
  forget(path: string): void;
}

export function registerCameraMetrics(
  registry: Registry,
  pulled: () => readonly PulledCamera[],
): CameraMetrics {
  const registers = [registry];
  new Gauge({
    name: 'streammesh_signaling_cameras_pulled',
    help: 'Cameras of the RTSP proxy pulled into the SFU (one RTSP session each).',
    registers,
    collect() {
      this.set(pulled().length);
    },
  });
  new Gauge({
    name: 'streammesh_signaling_camera_viewers',
    help: 'Viewers (WHEP sessions) sharing a pulled camera, by proxy path.',
    labelNames: ['path'],
    registers,
    collect() {
      this.reset();
      for (const camera of pulled()) this.set({ path: camera.path }, camera.viewers);
    },
  });
  // The pull counts packets in a plain number (no label lookup per packet);
  // the counter takes what was added since the last scrape.
  const reported = new Map<string, number>();
  const packets = new Counter({
    name: 'streammesh_signaling_camera_packets_total',
    help: 'H.264 RTP packets fed from the RTSP proxy into the SFU, by proxy path.',
    labelNames: ['path'],
    registers,
    collect() {
      for (const camera of pulled()) {
        const delta = camera.packets - (reported.get(camera.path) ?? 0);
        if (delta > 0) this.inc({ path: camera.path }, delta);
        reported.set(camera.path, camera.packets);
      }
    },
  });
  return {
    forget: (path) => {
      reported.delete(path);
      packets.remove({ path });
    },
  };
}
