/**
 * The config the control plane serves, with its version. Sources: the config
 * file (watched: an edit is picked up within ~100 ms) and writes on the admin
 * API, which make the base; and layers laid over the base by other sources
 * (on Kubernetes: custom resources, EndpointSlices). The composed config is
 * validated whole with the one schema, so a layer can never push what a file
 * could not hold. A bad edit or layer is reported and changes nothing: the
 * last good config stays.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import {
  loadConfigFile,
  splitConfig,
  validateConfig,
  type MeshConfig,
  type MeshResource,
} from '../../config/index.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';

export interface VersionedConfig {
  /** Opaque to nodes: a sequence number and a digest of the content. */
  readonly version: string;
  readonly config: MeshConfig;
  /** The config as JSON, to tell a change from a rewrite of the same content. */
  readonly json: string;
  /** The config as the typed resources nodes receive; split once per version. */
  readonly resources: readonly MeshResource[];
  readonly origin: string;
  readonly updatedAt: string;
}

/**
 * What a source adds to the base config: a pure function of it (the same
 * base gives the same config), re-applied whenever the base changes. It
 * returns a new config and leaves its argument untouched.
 */
export type ConfigLayer = (base: MeshConfig) => MeshConfig;

export interface ConfigStoreEvents {
  change: [VersionedConfig];
}

export class ConfigStore extends EventEmitter<ConfigStoreEvents> {
  #current: VersionedConfig;
  #base: MeshConfig;
  readonly #layers = new Map<string, ConfigLayer>();
  #sequence = 1;
  #lastReloadError: string | undefined;

  constructor(initial: MeshConfig, origin: string) {
    super();
    this.#base = initial;
    this.#current = versioned(initial, this.#sequence, origin);
  }

  /** The config of the file or the admin API, without the layers. */
  get base(): MeshConfig {
    return this.#base;
  }

  get current(): VersionedConfig {
    return this.#current;
  }

  /** Why the last file reload was refused, until a reload succeeds. */
  get lastReloadError(): string | undefined {
    return this.#lastReloadError;
  }

  /**
   * Replaces the base config (the layers are laid over it again); returns
   * false when the served content did not change. Throws a ConfigError,
   * changing nothing, when a layer does not fit the new base.
   */
  set(config: MeshConfig, origin: string): boolean {
    const composed = this.#compose(config, this.#layers, origin);
    this.#base = config;
    return this.#serve(composed, origin);
  }

  /**
   * Lays a layer over the base under its name, replacing the one of that
   * name (undefined removes it); returns false when the served content did
   * not change. Throws a ConfigError, changing nothing, when the composed
   * config is invalid: its issues name the fields at fault, so the source
   * can tell which of its objects to refuse.
   */
  setLayer(name: string, layer: ConfigLayer | undefined, origin: string): boolean {
    const layers = new Map(this.#layers);
    if (layer === undefined) layers.delete(name);
    else layers.set(name, layer);
    const composed = this.#compose(this.#base, layers, origin);
    if (layer === undefined) this.#layers.delete(name);
    else this.#layers.set(name, layer);
    return this.#serve(composed, origin);
  }

  #compose(base: MeshConfig, layers: ReadonlyMap<string, ConfigLayer>, origin: string): MeshConfig {
    if (layers.size === 0) return base;
    let config = base;
    for (const layer of layers.values()) config = layer(config);
    // Parsing a parsed config gives it back unchanged; the layers' additions
    // are checked with everything else (duplicate names, ports, references).
    return validateConfig(config, origin);
  }

  #serve(config: MeshConfig, origin: string): boolean {
    const json = JSON.stringify(config);
    if (json === this.#current.json) return false;
    this.#sequence += 1;
    this.#current = versioned(config, this.#sequence, origin);
    this.emit('change', this.#current);
    return true;
  }

  /**
   * Watches the file's directory rather than the file, so editors that save
   * by renaming a new file over the old one are seen too.
   */
  watchFile(file: string, env: NodeJS.ProcessEnv, log: Logger): FSWatcher {
    const path = resolve(file);
    const name = basename(path);
    let timer: NodeJS.Timeout | undefined;
    const reload = async (): Promise<void> => {
      try {
        const config = await loadConfigFile(file, env);
        this.#lastReloadError = undefined;
        if (this.set(config, `file ${file}`)) {
          log.info({ version: this.#current.version }, 'config file reloaded');
        }
      } catch (error) {
        this.#lastReloadError = errorMessage(error);
        log.error({ reason: this.#lastReloadError }, 'config file rejected; last good config kept');
      }
    };
    const watcher = watch(dirname(path), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      // Editors write in several steps; read once they have settled.
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), 50);
    });
    watcher.on('close', () => clearTimeout(timer));
    return watcher;
  }
}

function versioned(config: MeshConfig, sequence: number, origin: string): VersionedConfig {
  const json = JSON.stringify(config);
  const digest = createHash('sha256').update(json).digest('hex').slice(0, 12);
  return {
    version: `${sequence}-${digest}`,
    config,
    json,
    resources: splitConfig(config),
    origin,
    updatedAt: new Date().toISOString(),
  };
}
