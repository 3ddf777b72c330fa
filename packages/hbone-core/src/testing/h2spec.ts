/**
 * Runs h2spec (github.com/summerwind/h2spec, the HTTP/2 conformance suite) one case at a time, so
 * a test can check the server after every case. h2spec speaks HTTP/2 with prior knowledge to a
 * plaintext port; against an mTLS server put `startTlsRelay` in front.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface H2specCase {
  /** `http2/6.9.1/3`: what h2spec takes on its command line. */
  id: string;
  title: string;
}

export interface H2specResult extends H2specCase {
  outcome: 'passed' | 'failed' | 'skipped';
  /** What h2spec expected and what it got, for a failed case. */
  detail?: string;
}

const GROUPS: Record<string, string> = {
  'Generic tests for HTTP/2 server': 'generic',
  'Hypertext Transfer Protocol Version 2 (HTTP/2)': 'http2',
  'HPACK: Header Compression for HTTP/2': 'hpack',
};

/** Every case, from `h2spec --dryrun`. */
export async function listH2specCases(h2spec: string): Promise<H2specCase[]> {
  const text = await run(h2spec, ['--dryrun']);
  const cases: H2specCase[] = [];
  let group = '';
  let section = '';
  for (const line of text.split('\n')) {
    const heading = GROUPS[line.trim()];
    if (heading && !line.startsWith(' ')) {
      group = heading;
      continue;
    }
    const sectionMatch = /^\s+(\d+(?:\.\d+)*)\. /.exec(line);
    if (sectionMatch) {
      section = sectionMatch[1] as string;
      continue;
    }
    const caseMatch = /^\s+(\d+): (.*)$/.exec(line);
    if (caseMatch && group && section) cases.push({ id: `${group}/${section}/${caseMatch[1]}`, title: caseMatch[2] as string });
  }
  return cases;
}

/** Runs one case against `host:port` (plaintext, prior knowledge). */
export async function runH2specCase(h2spec: string, target: { host: string; port: number }, testCase: H2specCase, timeoutSeconds = 2): Promise<H2specResult> {
  const dir = await mkdtemp(join(tmpdir(), 'h2spec-'));
  try {
    const report = join(dir, 'report.xml');
    await run(h2spec, ['-h', target.host, '-p', String(target.port), '-o', String(timeoutSeconds), '-j', report, testCase.id]);
    const xml = await readFile(report, 'utf8');
    const body = /<testcase[^>]*>([\s\S]*?)<\/testcase>/.exec(xml)?.[1] ?? '';
    if (/<skipped/.test(body)) return { ...testCase, outcome: 'skipped' };
    const failure = /<(failure|error)[^>]*>([\s\S]*?)<\/\1>/.exec(body);
    if (failure) return { ...testCase, outcome: 'failed', detail: unescapeXml(failure[2] as string).trim().replace(/\s+/g, ' ') };
    return { ...testCase, outcome: 'passed' };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // h2spec exits non-zero when a case fails; the report says which.
    execFile(file, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (err as { killed?: boolean }).killed) reject(new Error(`h2spec ${args.join(' ')} timed out`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

function unescapeXml(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}
