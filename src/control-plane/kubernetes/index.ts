export { kubeClient, SERVICE_ACCOUNT_DIR, type KubeClient } from './kube-client.js';
export {
  startKubernetesSources,
  type KubernetesContext,
  type RunningSource,
  type SourceStarter,
} from './sources.js';
export { kubernetesSourceStarters } from './starters.js';
