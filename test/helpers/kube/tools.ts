/**
 * The real Kubernetes tools the chart and Kubernetes tests run: kube-apiserver,
 * etcd, kubectl and helm, built from their Go modules by scripts/k8s-tools.sh
 * (which `npm run test:all` runs first; cached, so a second run costs well
 * under a second). A test that finds them missing runs the script itself
 * rather than skip: a skipped Kubernetes test would hide a broken chart.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../process.js';

export interface KubeTools {
  readonly dir: string;
  readonly kubeApiserver: string;
  readonly etcd: string;
  readonly kubectl: string;
  readonly helm: string;
}

let cached: KubeTools | undefined;

/** The tools' paths, building them first if needed (minutes, once per machine). */
export function kubeTools(): KubeTools {
  if (cached !== undefined) return cached;
  const built = spawnSync('bash', [join(repoRoot, 'scripts', 'k8s-tools.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 30 * 60_000,
  });
  const dir = built.stdout.trim().split('\n').at(-1) ?? '';
  if (built.status !== 0 || dir === '') {
    throw new Error(
      `scripts/k8s-tools.sh could not build the Kubernetes tools (exit ${String(built.status)}): see its output above`,
    );
  }
  cached = {
    dir,
    kubeApiserver: join(dir, 'kube-apiserver'),
    etcd: join(dir, 'etcd'),
    kubectl: join(dir, 'kubectl'),
    helm: join(dir, 'helm'),
  };
  return cached;
}
