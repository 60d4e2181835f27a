/**
 * The config the control plane serves, with its version. Sources: the config
 * file (watched: an edit is picked up within ~100 ms) and writes on the admin
 * API. A bad edit is reported and changes nothing: the last good config stays.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import {
  loadConfigFile,
  splitConfig,
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

export interface ConfigStoreEvents {
  change: [VersionedConfig];
}

export class ConfigStore extends EventEmitter<ConfigStoreEvents> {
  #current: VersionedConfig;
  #sequence = 1;
  #lastReloadError: string | undefined;

  constructor(initial: MeshConfig, origin: string) {
    super();
    this.#current = versioned(initial, this.#sequence, origin);
  }

  get current(): VersionedConfig {
    return this.#current;
  }

  /** Why the last file reload was refused, until a reload succeeds. */
  get lastReloadError(): string | undefined {
    return this.#lastReloadError;
  }

  /** Replaces the config; returns false when the content did not change. */
  set(config: MeshConfig, origin: string): boolean {
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
