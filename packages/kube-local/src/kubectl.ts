import { spawn } from 'node:child_process';
import { MeshError } from '@mesh/errors';
import { kubeToolPath } from './tools.js';

/**
 * Runs the built `kubectl` with `--kubeconfig`; `input` goes to its stdin (`apply -f -`).
 * Resolves with its stdout; a failure carries its exit status and stderr.
 */
export function kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubeToolPath('kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', (err) => reject(new MeshError('KUBE_LOCAL_ERR_KUBECTL', `cannot run kubectl: ${err.message}`, { cause: err, hint: 'run `npm run setup`' })));
    child.once('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new MeshError('KUBE_LOCAL_ERR_KUBECTL', `kubectl ${args.join(' ')} exited with status ${code}: ${stderr.trim() || stdout.trim()}`));
    });
    child.stdin.end(input ?? '');
  });
}
