/**
 * The single error type of the mesh. Every package throws a MeshError with a stable,
 * upper-snake `code` (`<AREA>_ERR_<WHAT>`, e.g. `HBONE_ERR_BAD_AUTHORITY`). Callers branch on
 * `code`, never on message text: messages are for operators and may change.
 *
 * Guards work across package copies and realms because they check the shape, not the class
 * (`instanceof` fails when two copies of this package are loaded).
 */
export interface MeshErrorOptions {
  /** The lower-level error that caused this one. */
  cause?: unknown;
  /** Structured facts for logs (addresses, identities, file:line). Must be JSON-serialisable. */
  context?: Record<string, unknown>;
  /** What an operator can do about it; appended to the message. */
  hint?: string;
}

export class MeshError<Code extends string = string> extends Error {
  override readonly name = 'MeshError';
  readonly code: Code;
  readonly context: Record<string, unknown>;
  readonly hint: string | undefined;

  constructor(code: Code, message: string, options: MeshErrorOptions = {}) {
    super(options.hint ? `${message} (hint: ${options.hint})` : message, { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
    this.hint = options.hint;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, context: this.context };
  }
}

/** True when `err` is a MeshError (by shape, so it works across package copies). */
export function isMeshError(err: unknown): err is MeshError {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { name?: unknown }).name === 'MeshError'
  );
}

/** True when `err` is a MeshError with one of the given codes. */
export function hasCode<C extends string>(err: unknown, ...codes: C[]): err is MeshError<C> {
  return isMeshError(err) && (codes as string[]).includes(err.code);
}
