/** Plain-text tables the way istioctl prints them (tabwriter): upper-case headers, columns padded with spaces, no escape codes. */
export const COLUMN_GAP = '   ';

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join(COLUMN_GAP)
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
