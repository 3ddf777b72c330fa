/**
 * Where a ztunnel's start-up time goes, from its own JSON log lines: when it listened, reached
 * the control plane, had its config, applied the capture rules, and held every workload
 * certificate. Pure: the lines and the spawn time in, milestones out.
 */

export interface StartupMilestone {
  readonly label: string;
  /** Milliseconds after the process was spawned. */
  readonly ms: number;
}

const at = (entry: Record<string, unknown> | undefined, spawnedAtMs: number): number | undefined => {
  const time = typeof entry?.['time'] === 'string' ? Date.parse(entry['time']) : Number.NaN;
  return Number.isNaN(time) ? undefined : time - spawnedAtMs;
};

export function ztunnelMilestones(lines: readonly Record<string, unknown>[], spawnedAtMs: number): StartupMilestone[] {
  const first = (msg: string) => lines.find((e) => e['msg'] === msg);
  const milestones: StartupMilestone[] = [];
  const push = (label: string, entry: Record<string, unknown> | undefined) => {
    const ms = at(entry, spawnedAtMs);
    if (ms !== undefined) milestones.push({ label, ms });
  };
  push('listening', first('ztunnel started'));
  push('xDS connected', first('connected to the control plane'));
  push('config', lines.find((e) => e['msg'] === 'config applied' && e['type'] === 'LDS'));
  push('capture rules', first('capture rules applied'));
  const certificates = lines.filter((e) => e['msg'] === 'certificate issued');
  if (certificates.length > 0) push(`${certificates.length} certificate${certificates.length === 1 ? '' : 's'}`, certificates[certificates.length - 1]);
  return milestones.sort((a, b) => a.ms - b.ms);
}

export function formatMilestones(milestones: readonly StartupMilestone[]): string {
  return milestones.map((m) => `${m.label} ${m.ms >= 1000 ? `${(m.ms / 1000).toFixed(1)} s` : `${Math.max(0, Math.round(m.ms))} ms`}`).join(', ');
}
