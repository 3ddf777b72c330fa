import { describe, expect, it } from 'vitest';
import { planRelaunch, ZTUNNEL_V8_FLAGS } from './runtime.js';

const NODE = '/usr/bin/node';
const MAIN = '/app/dist/main.js';

describe('planRelaunch', () => {
  it('starts node again with the settings before its own flags, the script and its arguments', () => {
    expect(planRelaunch(NODE, ['--enable-source-maps'], [NODE, MAIN, '--node-name', 'node-a'], {})).toEqual({
      file: NODE,
      args: [NODE, ...ZTUNNEL_V8_FLAGS, '--enable-source-maps', MAIN, '--node-name', 'node-a'],
    });
  });

  it('does nothing once the settings are in force (the relaunched process)', () => {
    const again = planRelaunch(NODE, [...ZTUNNEL_V8_FLAGS], [NODE, MAIN], {});
    expect(again).toBeUndefined();
  });

  it("keeps the operator's own value, on the command line or in NODE_OPTIONS", () => {
    expect(planRelaunch(NODE, ['--max-semi-space-size=64'], [NODE, MAIN], {})).toBeUndefined();
    expect(planRelaunch(NODE, ['--max_semi_space_size=64'], [NODE, MAIN], {})).toBeUndefined();
    expect(planRelaunch(NODE, [], [NODE, MAIN], { NODE_OPTIONS: '--max-old-space-size=512 --max-semi-space-size=8' })).toBeUndefined();
  });
});
