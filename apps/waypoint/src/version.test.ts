import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WAYPOINT_VERSION } from './version.js';

describe('WAYPOINT_VERSION', () => {
  it('is the version in package.json (what istiod-lite and meshctl proxy-status show)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(WAYPOINT_VERSION).toBe(pkg.version);
  });
});
