import { getHeapSpaceStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { planRelaunch, releaseStartupMemory, ZTUNNEL_V8_FLAGS } from './runtime.js';

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

describe('releaseStartupMemory', () => {
  const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.physical_space_size;

  it('shrinks the young generation that start-up grew, and leaves no global gc behind', () => {
    let survivors: object[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      survivors.push({ i });
      if (survivors.length > 100_000) survivors = [];
    }
    const grown = newSpace();
    releaseStartupMemory();
    expect(newSpace()).toBeLessThan(grown);
    expect('gc' in globalThis).toBe(false);
  });
});
