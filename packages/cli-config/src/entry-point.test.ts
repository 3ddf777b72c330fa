import { afterEach, describe, expect, it, vi } from 'vitest';
import { MeshError } from '@mesh/errors';
import { readEntryCommandLine } from './entry-point.js';

describe('readEntryCommandLine', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('a bad flag is one line naming the program on stderr and exit status 2', () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const result = readEntryCommandLine(
      'ztunnel',
      () => {
        throw new MeshError('CONFIG_ERR', '--admin-port: expected a port, got "x"');
      },
      'help',
    );
    expect(result).toEqual({ exitCode: 2 });
    expect(stderr).toHaveBeenCalledWith('ztunnel: --admin-port: expected a port, got "x"\n');
  });

  it('--help prints the help text and exit status 0', () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(readEntryCommandLine('waypoint', () => ({ help: true }), 'usage: waypoint …\n')).toEqual({ exitCode: 0 });
    expect(stdout).toHaveBeenCalledWith('usage: waypoint …\n');
  });

  it('otherwise hands back the configuration', () => {
    expect(readEntryCommandLine('istiod-lite', () => ({ help: false, config: { port: 15012 } }), '')).toEqual({ config: { port: 15012 } });
  });
});
