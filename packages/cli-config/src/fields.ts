/** zod fields that several programs' flags share, so each is declared and worded once. */
import { z } from 'zod';

/** A TCP port flag (0: any free port). */
export const portField = z.coerce.number().int().min(0).max(65_535);

/** A `host:port` flag (`[v6]:port` for IPv6). */
export const hostPortField = z.string().regex(/^(\[[^\]]+\]|[^:\s]+):\d+$/, 'must be host:port');

/** `--log-level` of the proxies (the levels a line can have; `off` is for `/logging` only). */
export const logLevelField = z.enum(['debug', 'info', 'warn', 'error']).default('info');
