/**
 * status.conditions of a Camera or MediaRoute, as Gateway API writes them:
 *
 * - Accepted: True/Accepted when the object is laid in the config; False with
 *   reason Invalid (the schema's issues) or Conflicted (what it clashes with).
 * - Programmed: True/Programmed once every live rtp-proxy acknowledged a
 *   config that holds it; False/Pending until then; False/Invalid when it
 *   is not accepted (it is in no pushed config).
 *
 * Each carries the generation it judged (observedGeneration). A condition's
 * lastTransitionTime moves only when its status does, so a status is
 * written again only when what it says changes (sameConditions).
 */
import type { Condition, CustomObject } from './kinds.js';

export type Judgement =
  | {
      readonly accepted: true;
      /** Live proxies, and how many of them acknowledged a config holding the object. */
      readonly proxies: { readonly live: number; readonly holding: number };
    }
  | {
      readonly accepted: false;
      readonly reason: 'Invalid' | 'Conflicted';
      readonly message: string;
    };

export function isProgrammed(judgement: Judgement): boolean {
  return (
    judgement.accepted &&
    judgement.proxies.live > 0 &&
    judgement.proxies.holding === judgement.proxies.live
  );
}

export function conditionsFor(object: CustomObject, judgement: Judgement, now: Date): Condition[] {
  const generation = object.generation;
  const at = (type: string, status: Condition['status']): string => {
    const previous = object.conditions.find((condition) => condition.type === type);
    return previous?.status === status ? previous.lastTransitionTime : rfc3339(now);
  };
  const condition = (
    type: string,
    status: Condition['status'],
    reason: string,
    message: string,
  ): Condition => ({
    type,
    status,
    reason,
    message,
    observedGeneration: generation,
    lastTransitionTime: at(type, status),
  });
  if (!judgement.accepted) {
    return [
      condition('Accepted', 'False', judgement.reason, judgement.message),
      condition(
        'Programmed',
        'False',
        'Invalid',
        'not accepted: it is in no config pushed to the proxies',
      ),
    ];
  }
  const { live, holding } = judgement.proxies;
  return [
    condition('Accepted', 'True', 'Accepted', 'valid, and laid over the config file'),
    isProgrammed(judgement)
      ? condition('Programmed', 'True', 'Programmed', `held by every live rtp-proxy (${live})`)
      : condition(
          'Programmed',
          'False',
          'Pending',
          live === 0
            ? 'no live rtp-proxy is registered with the control plane'
            : `${holding} of ${live} live rtp-proxies acknowledged a config that holds it`,
        ),
  ];
}

/** Equal but for lastTransitionTime: nothing new to write. */
export function sameConditions(a: readonly Condition[], b: readonly Condition[]): boolean {
  const essentials = (conditions: readonly Condition[]): string =>
    JSON.stringify(
      [...conditions]
        .sort((x, y) => (x.type < y.type ? -1 : x.type > y.type ? 1 : 0))
        .map(({ type, status, reason, message, observedGeneration }) => [
          type,
          status,
          reason,
          message,
          observedGeneration,
        ]),
    );
  return essentials(a) === essentials(b);
}

/** metav1.Time: RFC 3339 to the second. */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
