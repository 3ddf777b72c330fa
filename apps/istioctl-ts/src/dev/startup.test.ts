import { describe, expect, it } from 'vitest';
import { formatMilestones, ztunnelMilestones } from './startup.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const line = (offsetMs: number, msg: string, extra: Record<string, unknown> = {}) => ({ time: new Date(T0 + offsetMs).toISOString(), msg, ...extra });

describe('ztunnelMilestones', () => {
  it('orders what a ztunnel logged while starting, relative to its spawn', () => {
    const lines = [
      line(420, 'ztunnel started'),
      line(470, 'connected to the control plane'),
      line(500, 'config applied', { type: 'CDS' }),
      line(530, 'config applied', { type: 'LDS' }),
      line(700, 'capture rules applied'),
      line(1_900, 'certificate issued'),
      line(2_600, 'certificate issued'),
      line(9_000, 'connection complete'),
    ];
    const milestones = ztunnelMilestones(lines, T0);
    expect(milestones).toEqual([
      { label: 'listening', ms: 420 },
      { label: 'xDS connected', ms: 470 },
      { label: 'config', ms: 530 },
      { label: 'capture rules', ms: 700 },
      { label: '2 certificates', ms: 2_600 },
    ]);
    expect(formatMilestones(milestones)).toBe('listening 420 ms, xDS connected 470 ms, config 530 ms, capture rules 700 ms, 2 certificates 2.6 s');
  });

  it('leaves out what did not happen (explicit mode has no capture rules)', () => {
    expect(ztunnelMilestones([line(300, 'ztunnel started'), line(900, 'certificate issued')], T0).map((m) => m.label)).toEqual(['listening', '1 certificate']);
  });
});
