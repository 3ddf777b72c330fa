/**
 * One way for every mesh program (istiod-lite, ztunnel, the waypoint) to read its configuration
 * (parsed once, with zod, and passed down): environment variables first, then
 * `--flag value` / `--flag=value` arguments, which win; boolean flags take no value. Every
 * problem names the flag (or variable) to fix, and all problems are reported at once.
 */
import type { z } from 'zod';
import { MeshError } from '@mesh/errors';

export interface CommandLineSpec<Schema extends z.ZodType> {
  /** The program's name, for hints (`see ztunnel --help`). */
  command: string;
  /** MeshError code of configuration errors, e.g. `ZTUNNEL_ERR_CONFIG`. */
  errorCode: string;
  schema: Schema;
  /** `--flag` → config key. */
  flags: Readonly<Record<string, string>>;
  /** `--flag` (no value, or `=true|false|1|0`) → config key. */
  booleanFlags?: Readonly<Record<string, string>>;
  /** Environment variable → config key. */
  env?: Readonly<Record<string, string>>;
}

export type ParsedCommandLine<Config> = { help: true } | { help: false; config: Config };

export function parseCommandLine<Schema extends z.ZodType>(
  spec: CommandLineSpec<Schema>,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ParsedCommandLine<z.output<Schema>> {
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(spec.env ?? {})) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') return { help: true };
    const eq = arg.indexOf('=');
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const booleanKey = spec.booleanFlags?.[flag];
    if (booleanKey) {
      raw[booleanKey] = inline === undefined || inline === 'true' || inline === '1';
      continue;
    }
    const key = spec.flags[flag];
    if (!key) throw configError(spec, `unknown option "${flag}"`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw configError(spec, `${flag} needs a value`);
    raw[key] = value;
  }
  return { help: false, config: validateConfig(spec, raw) };
}

/** Validates an already-assembled config object (tests, embedding) with the same messages. */
export function validateConfig<Schema extends z.ZodType>(spec: CommandLineSpec<Schema>, raw: Record<string, unknown>): z.output<Schema> {
  const result = spec.schema.safeParse(raw);
  if (result.success) return result.data;
  const nameOf = (key: string) =>
    Object.entries(spec.flags).find(([, k]) => k === key)?.[0] ??
    Object.entries(spec.booleanFlags ?? {}).find(([, k]) => k === key)?.[0] ??
    Object.entries(spec.env ?? {}).find(([, k]) => k === key)?.[0] ??
    key;
  const problems = result.error.issues.map((issue) => `${nameOf(String(issue.path[0] ?? 'config'))}: ${issue.message}`);
  throw configError(spec, problems.join('; '));
}

function configError(spec: CommandLineSpec<z.ZodType>, message: string): MeshError {
  return new MeshError(spec.errorCode, message, { hint: `see ${spec.command} --help` });
}
