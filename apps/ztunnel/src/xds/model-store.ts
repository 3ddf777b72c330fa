/**
 * The model in force and how it changes. An xDS update is validated first (compiled; a reason
 * string means NACK and nothing changes), then committed once the client has ACKed it; the new
 * model replaces the old one in a single assignment, so a connection being planned sees either
 * the old or the new config, never a mix. Per-type state (version, resources) is kept for
 * `/config_dump`.
 */
import { EventEmitter } from 'node:events';
import { TYPE_URL, type ConfigDumpTypeState, type ResourceJson } from '@mesh/xds';
import { compileClusters, compileEndpoints, compileListeners, emptyModel, withPart, type RuntimeModel } from '../config/model.js';

export const SUPPORTED_TYPE_URLS: readonly string[] = [TYPE_URL.CLUSTER, TYPE_URL.CLUSTER_LOAD_ASSIGNMENT, TYPE_URL.LISTENER];

type Part = Partial<Pick<RuntimeModel, 'listeners' | 'clusters' | 'endpoints'>>;

export interface ModelChange {
  readonly typeUrl: string;
  readonly model: RuntimeModel;
  readonly previous: RuntimeModel;
}

export class ModelStore extends EventEmitter {
  #model: RuntimeModel = emptyModel();
  readonly #pending = new Map<string, { version: string; resources: ResourceJson[]; part: Part }>();
  readonly #states = new Map<string, ConfigDumpTypeState>();

  get model(): RuntimeModel {
    return this.#model;
  }

  /** What each type last committed: for config_dump. */
  get typeStates(): ReadonlyMap<string, ConfigDumpTypeState> {
    return this.#states;
  }

  /** Has every type arrived at least once? */
  get synced(): boolean {
    return SUPPORTED_TYPE_URLS.every((t) => this.#states.has(t));
  }

  /** Compiles an update; returns the NACK reason, or undefined and keeps the result for commit(). */
  validate(typeUrl: string, version: string, resources: readonly ResourceJson[]): string | undefined {
    const compiled = compilePart(typeUrl, resources);
    if ('error' in compiled) return compiled.error;
    this.#pending.set(typeUrl, { version, resources: [...resources], part: compiled.part });
    return undefined;
  }

  /** Puts the last validated update of `typeUrl` in force. */
  commit(typeUrl: string): void {
    const pending = this.#pending.get(typeUrl);
    if (!pending) return;
    this.#pending.delete(typeUrl);
    const previous = this.#model;
    this.#model = withPart(previous, pending.part);
    this.#states.set(typeUrl, { version: pending.version, lastUpdated: new Date().toISOString(), resources: pending.resources });
    this.emit('change', { typeUrl, model: this.#model, previous } satisfies ModelChange);
  }

  /** validate + commit, for in-process control planes and tests. */
  apply(typeUrl: string, version: string, resources: readonly ResourceJson[]): string | undefined {
    const reason = this.validate(typeUrl, version, resources);
    if (reason === undefined) this.commit(typeUrl);
    return reason;
  }
}

function compilePart(typeUrl: string, resources: readonly ResourceJson[]): { part: Part } | { error: string } {
  switch (typeUrl) {
    case TYPE_URL.LISTENER: {
      const r = compileListeners(resources);
      return r.error !== undefined ? { error: r.error } : { part: { listeners: r.value } };
    }
    case TYPE_URL.CLUSTER: {
      const r = compileClusters(resources);
      return r.error !== undefined ? { error: r.error } : { part: { clusters: r.value } };
    }
    case TYPE_URL.CLUSTER_LOAD_ASSIGNMENT: {
      const r = compileEndpoints(resources);
      return r.error !== undefined ? { error: r.error } : { part: { endpoints: r.value } };
    }
    default:
      return { error: `ztunnel does not subscribe to ${typeUrl}` };
  }
}
