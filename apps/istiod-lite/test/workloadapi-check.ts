/**
 * tools/workloadapi-check: Istio's own generated Go types (istio.io/istio/pkg/workloadapi),
 * built by the set-up (`npm run setup`; scripts/setup/steps.mjs) and linked at
 * .state/tools/workloadapi-check (or $WORKLOADAPI_CHECK). Tests that use it are skipped, with this
 * reason in their title, when it is not built.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const WORKLOADAPI_CHECK = process.env['WORKLOADAPI_CHECK'] ?? fileURLToPath(new URL('../../../.state/tools/workloadapi-check', import.meta.url));
export const WORKLOADAPI_CHECK_BUILT = existsSync(WORKLOADAPI_CHECK);
export const NOT_BUILT_REASON = WORKLOADAPI_CHECK_BUILT ? '' : ' — skipped: Istio\'s decoder is not built (`npm run setup` builds it; needs Go ≥ 1.26)';

/** What Istio's types make of one resource. */
export interface IstioView {
  name?: string;
  type_url: string;
  json: Record<string, unknown>;
  /** base64 of Istio's own (deterministic) encoding. */
  reencoded: string;
  /** Paths where Istio's types found fields they do not know (a field-number mismatch). */
  unknown: string[];
  error?: string;
}

function parseLines(stdout: string): IstioView[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as IstioView);
}

/** Decodes Anys with Istio's types. */
export async function istioDecode(anys: readonly { type_url: string; value: Uint8Array }[]): Promise<IstioView[]> {
  const input = anys.map((a) => JSON.stringify({ type_url: a.type_url, value: Buffer.from(a.value).toString('base64') })).join('\n');
  return new Promise((resolve, reject) => {
    const child = execFile(WORKLOADAPI_CHECK, ['decode'], { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`workloadapi-check decode: ${stderr || err.message}`));
      else resolve(parseLines(stdout));
    });
    child.stdin?.end(input);
  });
}

/** Subscribes to a live server over Delta ADS as Istio's ztunnel would, with Istio's types. */
export async function istioDeltaSubscribe(target: string, node: string): Promise<IstioView[]> {
  const { stdout } = await promisify(execFile)(WORKLOADAPI_CHECK, ['delta', target, node], { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 });
  return parseLines(stdout);
}
