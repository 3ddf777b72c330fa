/** Plain-text rendering of an Explanation: numbered steps, each tagged with the proxy whose config it reads. */
import type { Explanation } from './explain.js';

export function formatExplanation(e: Explanation): string {
  const width = String(e.steps.length).length;
  const lines = [
    `${e.source.label} (${e.source.ip}) → ${e.destination.label} (${e.destination.ip}:${e.destination.port})`,
    '',
    ...e.steps.flatMap((step, i) => [
      `${String(i + 1).padStart(width)}. [${step.proxy}] ${step.title}`,
      ...step.details.map((d) => `${' '.repeat(width + 2)}   ${d}`),
    ]),
    '',
    `Result: ${e.summary}`,
  ];
  return `${lines.join('\n')}\n`;
}
