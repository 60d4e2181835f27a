/**
 * Which role a node may take is a matter of its certificate, not of what it
 * says at Register (review finding 2). A signaling node is a directory entry
 * every other signaling node redirects participants to and opens cascade
 * links with, and gets PIPE keys; a proxy gets camera placements and
 * MEDIA_KEYs. Were the role self-declared, a sidecar proxy's key (the kind
 * that gets stolen: it lives beside the service it fronts) would be enough
 * to become a signaling node, and a signaling node's enough to receive
 * camera keys.
 *
 * With controlPlane.mtls the control plane knows the SPIFFE IDs of its
 * signaling nodes (controlPlane.signalingIdentities; default the one of
 * signaling.identity and of each signaling.instances entry, the IDs `up`
 * and `streammesh signaling` give their nodes). A node registering as a
 * signaling node must present one of them; a node presenting one of them
 * may register as nothing else. Without mTLS there is no identity to bind
 * to, and nothing is checked.
 */
import type { MeshConfig } from '../config/index.js';
import type { Role } from '../protocol/mesh/index.js';
import { spiffeId } from '../shared/identity/index.js';

/** The SPIFFE IDs that may register as signaling nodes, in `trustDomain`. */
export function signalingIdentities(config: MeshConfig, trustDomain: string): ReadonlySet<string> {
  const configured = config.controlPlane.signalingIdentities;
  if (configured !== undefined) return new Set(configured);
  const { namespace, serviceAccount } = config.signaling.identity;
  const accounts = [
    serviceAccount,
    ...config.signaling.instances.flatMap((instance) =>
      instance.serviceAccount === undefined ? [] : [instance.serviceAccount],
    ),
  ];
  return new Set(
    accounts.map((account) => spiffeId({ trustDomain, namespace, serviceAccount: account })),
  );
}

/**
 * The SPIFFE IDs the mesh's own workloads run as: proxy.identity (and each
 * proxy.instances[].serviceAccount) and the signaling identities. On the
 * kubernetes registry only these ServiceAccounts are certified
 * (kubernetes/token-review.ts): roleFitsIdentity lets any identity but a
 * signaling one be a proxy, so certifying any ServiceAccount of the cluster
 * would let any workload become a proxy.
 */
export function meshWorkloadIdentities(
  config: MeshConfig,
  trustDomain: string,
): ReadonlySet<string> {
  const { namespace, serviceAccount } = config.proxy.identity;
  const proxies = [
    serviceAccount,
    ...config.proxy.instances.flatMap((instance) =>
      instance.serviceAccount === undefined ? [] : [instance.serviceAccount],
    ),
  ].map((account) => spiffeId({ trustDomain, namespace, serviceAccount: account }));
  return new Set([...proxies, ...signalingIdentities(config, trustDomain)]);
}

/**
 * Whether a node whose certificate names `identity` may hold `role`: a
 * signaling node only under a signaling identity, any other role only
 * under another identity.
 */
export function roleFitsIdentity(
  role: Role,
  identity: string,
  signaling: ReadonlySet<string>,
): boolean {
  return (role === 'ROLE_SIGNALING') === signaling.has(identity);
}
