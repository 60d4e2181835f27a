export { kubeClient, SERVICE_ACCOUNT_DIR, type KubeClient } from './kube-client.js';
export {
  startKubernetesSources,
  type KubernetesContext,
  type RunningSource,
  type SourceStarter,
} from './sources.js';
export { kubernetesSourceStarters } from './starters.js';
export {
  caSecretWhere,
  CaSecretError,
  loadOrCreateCaSecret,
  secretApi,
  type KeptRoot,
  type SecretApi,
} from './ca-secret.js';
export {
  allowedIdentity,
  kubernetesTokenReview,
  TokenReviewer,
  TokenReviewUnavailableError,
  type ReviewStatus,
  type TokenExpectations,
  type TokenVerdict,
} from './token-review.js';
export {
  configMapApi,
  publishTrustBundle,
  TRUST_BUNDLE_CONFIGMAP,
  TRUST_BUNDLE_KEY,
} from './trust-bundle-configmap.js';
export { startElectedReplica, type ElectedReplica } from './elected-replica.js';
export { LEADER_GAUGE_HELP } from './standby-admin.js';
