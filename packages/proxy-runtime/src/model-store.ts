/**
 * The model a proxy runs, and how an xDS update changes it: `validate` compiles a candidate (a
 * reason string means NACK and nothing changes), `commit` puts the last validated candidate of
 * that type in force once the client ACKs it. The new model replaces the old one in a single
 * assignment and is never changed afterwards, so whoever holds a model (a connection being
 * planned, a request being routed) sees either the old or the new config, never a mix; the
 * last good model stays in force after a NACK. Per-type state (version, resources) is kept for
 * `/config_dump`, and every commit emits `change` with the model before and after.
 */
import { EventEmitter } from 'node:events';
import type { ConfigDumpTypeState, ResourceJson } from '@mesh/xds';

/** A compiled update: how it changes the model, and what else to put in force with it. */
export type Candidate<M> = { readonly next: (model: M) => M; readonly onCommit?: () => void } | { readonly error: string };

export interface ModelChange<M> {
  readonly typeUrl: string;
  readonly model: M;
  readonly previous: M;
}

/** What the xDS wiring needs of a store. */
export interface XdsModelStore {
  readonly typeUrls: readonly string[];
  validate(typeUrl: string, version: string, resources: readonly ResourceJson[]): string | undefined;
  commit(typeUrl: string): void;
}

interface Pending<M> {
  version: string;
  resources: ResourceJson[];
  next: (model: M) => M;
  onCommit: (() => void) | undefined;
}

export abstract class SwapModelStore<M> extends EventEmitter implements XdsModelStore {
  #model: M;
  readonly #pending = new Map<string, Pending<M>>();
  readonly #states = new Map<string, ConfigDumpTypeState>();

  constructor(initial: M) {
    super();
    this.#model = initial;
  }

  /** The types this store subscribes to, in the order the control plane should answer. */
  abstract get typeUrls(): readonly string[];

  /** Compiles one type's resources against the model in force (pure: nothing changes here). */
  protected abstract compile(typeUrl: string, resources: readonly ResourceJson[]): Candidate<M>;

  get model(): M {
    return this.#model;
  }

  /** What each type last committed: for config_dump. */
  get typeStates(): ReadonlyMap<string, ConfigDumpTypeState> {
    return this.#states;
  }

  /** Has every type arrived at least once? */
  get synced(): boolean {
    return this.typeUrls.every((t) => this.#states.has(t));
  }

  /** Compiles an update; returns the NACK reason, or undefined and keeps the result for commit(). */
  validate(typeUrl: string, version: string, resources: readonly ResourceJson[]): string | undefined {
    const candidate = this.compile(typeUrl, resources);
    if ('error' in candidate) return candidate.error;
    this.#pending.set(typeUrl, { version, resources: [...resources], next: candidate.next, onCommit: candidate.onCommit });
    return undefined;
  }

  /** Puts the last validated update of `typeUrl` in force. */
  commit(typeUrl: string): void {
    const pending = this.#pending.get(typeUrl);
    if (!pending) return;
    this.#pending.delete(typeUrl);
    const previous = this.#model;
    this.#model = pending.next(previous);
    pending.onCommit?.();
    this.#states.set(typeUrl, { version: pending.version, lastUpdated: new Date().toISOString(), resources: pending.resources });
    this.emit('change', { typeUrl, model: this.#model, previous } satisfies ModelChange<M>);
  }

  /** validate + commit, for in-process control planes and tests. */
  apply(typeUrl: string, version: string, resources: readonly ResourceJson[]): string | undefined {
    const reason = this.validate(typeUrl, version, resources);
    if (reason === undefined) this.commit(typeUrl);
    return reason;
  }
}
