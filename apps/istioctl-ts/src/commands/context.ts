/**
 * What every command gets: where to write, how to reach the mesh, a clock. Commands never touch
 * process.* directly, so tests run them in-process with string sinks and fake clients.
 */
import { MeshError } from '@mesh/errors';
import { stringify as toYaml } from 'yaml';
import type { MeshClient } from '../api/mesh-client.js';
import type { TargetSources } from '../api/targets.js';

export interface Output {
  write(text: string): unknown;
  /** True only for an interactive terminal: live views and colour; anything else gets plain text. */
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

export interface CommandContext extends TargetSources {
  stdout: Output;
  stderr: Output;
  /** The data layer, built from the global --istiod option on first use. */
  client: () => MeshClient;
  now: () => Date;
  /** For ink's input handling in the live view. */
  stdin: NodeJS.ReadStream | undefined;
}

/**
 * Thrown by a command that finished and wants a particular exit status (istioctl analyze's 79
 * when it found issues); whatever it had to say is already written.
 */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit status ${code}`);
  }
}

export type OutputFormat = 'short' | 'json' | 'yaml';

export function parseOutputFormat(value: string): OutputFormat {
  if (value === 'short' || value === 'json' || value === 'yaml') return value;
  throw new MeshError('MESHCTL_ERR_BAD_FLAG', `-o ${value} is not an output format`, { hint: 'use -o short (a table, the default), -o json or -o yaml' });
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new MeshError('MESHCTL_ERR_BAD_FLAG', `--port ${value} is not a port`);
  return port;
}

/** JSON or YAML of `value`, as `-o json|yaml` print it. */
export function formatStructured(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : toYaml(value, { lineWidth: 0 });
}
