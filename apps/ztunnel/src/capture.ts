/**
 * Transparent mode with `--capture-netns`: keeps the node's capture plan (@mesh/netfilter) in
 * step with the local pods the config names, like istio-cni does for ztunnel; `remove()` tears
 * it down (only with --remove-capture-on-exit: by default the rules outlive the process so
 * captured traffic fails closed). Applies are serialized and coalesced: only the latest pod set
 * is applied.
 */
import { applyCapturePlan, planNodeCapture, removeCapturePlan, type CapturePlan, type CommandRunner, type DnsCapture } from '@mesh/netfilter';
import type { ProxyLogger as Logger } from '@mesh/log';

export interface CaptureManager {
  update(podIps: readonly string[]): void;
  /** Removes what was applied. */
  remove(): Promise<void>;
}

export function createCaptureManager(
  netns: string,
  ports: { outbound: number; inbound: number; inboundPlaintext: number },
  logger: Logger,
  exec?: CommandRunner,
  /** Pods' DNS to ztunnel's DNS proxy (the node address and port it listens on); none when off. */
  dns?: DnsCapture,
): CaptureManager {
  const options = { netns, ...(exec ? { exec } : {}) };
  let applied: CapturePlan | undefined;
  let appliedKey = '';
  let wanted: string[] | undefined;
  let running: Promise<void> | undefined;
  const run = async () => {
    while (wanted) {
      const ips = wanted;
      wanted = undefined;
      const key = ips.join(',');
      if (key === appliedKey && applied) continue;
      const plan = planNodeCapture({ capturedPodIps: ips, ports, ...(dns ? { dns } : {}) });
      try {
        await applyCapturePlan(plan, options);
        applied = plan;
        appliedKey = key;
        logger.log('proxy', 'info', 'capture rules applied', { netns, pods: ips });
      } catch (err) {
        logger.log('proxy', 'error', 'cannot apply capture rules', { netns, error: (err as Error).message });
      }
    }
  };
  // `running` is cleared when a run settles, never inside it: a run with nothing to apply returns
  // without awaiting, and clearing it there (before the assignment below) left a settled promise
  // in place that blocked every later update. A set wanted after the run's last look starts the
  // next run.
  const kick = () => {
    running ??= run().finally(() => {
      running = undefined;
      if (wanted) kick();
    });
  };
  return {
    update(podIps) {
      wanted = [...podIps].sort();
      kick();
    },
    async remove() {
      wanted = undefined;
      await running;
      if (applied) await removeCapturePlan(applied, options);
      applied = undefined;
    },
  };
}
