/**
 * Which served config versions hold which objects, to tell when an object is
 * Programmed: every live rtp-proxy's acknowledged version (the registry's
 * ackedVersion) is one that holds it. A version holds an object when the
 * custom-resources layer added it, with the content it has now (entryKey),
 * when that version was composed; the layer's own record of what it added
 * (CustomResourceLayer.applied) is read when the store announces the version.
 *
 * Versions come from this control plane's store, so an acknowledgement of a
 * version from another process (a node's Hello after a restart) holds
 * nothing: only what this process pushed counts. The last MAX_VERSIONS are
 * kept: a node that acknowledged none of them is not done yet.
 */
/** What is read of each node of the registry's list. */
export interface NodeAck {
  readonly role: string;
  readonly state: string;
  readonly ackedVersion: string;
}

export const MAX_VERSIONS = 64;

export class HeldVersions {
  readonly #versions = new Map<string, ReadonlySet<string>>();

  /** The store served `version`, holding the entries of these keys. */
  record(version: string, keys: Iterable<string>): void {
    this.#versions.set(version, new Set(keys));
    while (this.#versions.size > MAX_VERSIONS) {
      const oldest = this.#versions.keys().next();
      if (oldest.done === true) break;
      this.#versions.delete(oldest.value);
    }
  }

  holds(version: string, key: string): boolean {
    return this.#versions.get(version)?.has(key) ?? false;
  }

  /** Live proxies (connected), and how many acknowledged a version holding `key`. */
  proxiesHolding(nodes: readonly NodeAck[], key: string): { live: number; holding: number } {
    const live = nodes.filter((node) => node.role === 'ROLE_PROXY' && node.state === 'connected');
    return {
      live: live.length,
      holding: live.filter((node) => this.holds(node.ackedVersion, key)).length,
    };
  }
}
