import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hasCode } from '@mesh/errors';
import { parseCommandLine } from './command-line.js';

const spec = {
  command: 'demo',
  errorCode: 'DEMO_ERR_CONFIG',
  schema: z.object({
    nodeName: z.string({ error: 'is required' }).min(1),
    port: z.coerce.number().int().min(0).max(65_535).default(15000),
    verbose: z.boolean().default(false),
  }),
  flags: { '--node-name': 'nodeName', '--port': 'port' },
  booleanFlags: { '--verbose': 'verbose' },
  env: { NODE_NAME: 'nodeName' },
};

const problem = (argv: string[], env: Record<string, string> = {}) => {
  try {
    parseCommandLine(spec, argv, env);
  } catch (err) {
    expect(hasCode(err, 'DEMO_ERR_CONFIG')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a config error');
};

describe('parseCommandLine', () => {
  it('reads the environment, then flags, which win; defaults fill the rest', () => {
    expect(parseCommandLine(spec, ['--port=8080'], { NODE_NAME: 'node-a' })).toEqual({ help: false, config: { nodeName: 'node-a', port: 8080, verbose: false } });
    expect(parseCommandLine(spec, ['--node-name', 'node-b', '--verbose'], { NODE_NAME: 'node-a' })).toEqual({ help: false, config: { nodeName: 'node-b', port: 15000, verbose: true } });
    expect(parseCommandLine(spec, ['--node-name', 'x', '--verbose=false'])).toMatchObject({ config: { verbose: false } });
    expect(parseCommandLine(spec, ['--node-name', 'x', '--help'])).toEqual({ help: true });
  });

  it('names the flag in every problem', () => {
    expect(problem([])).toMatch(/--node-name: is required/);
    expect(problem(['--node-name', 'a', '--port', '70000'])).toMatch(/--port:/);
    expect(problem(['--node-name', 'a', '--bogus'])).toMatch(/unknown option "--bogus"/);
    expect(problem(['--node-name'])).toMatch(/--node-name needs a value/);
    expect(problem(['--node-name'])).toMatch(/see demo --help/);
  });
});
