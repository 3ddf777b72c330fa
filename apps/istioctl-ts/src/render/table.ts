/** Plain-text tables the way istioctl prints them (tabwriter): upper-case headers, columns padded with spaces, no escape codes. */
export const COLUMN_GAP = '   ';

/** istioctl proxy-status's tabwriter pads with five spaces. */
export const WIDE_COLUMN_GAP = '     ';

export interface TableOptions {
  /** Between columns (default three spaces). */
  gap?: string;
  /**
   * Per column, the widest a column grows. A longer cell does not widen its column for every row:
   * it stands alone on its line, and its row continues on the next line under the next column.
   */
  maxWidths?: readonly (number | undefined)[];
}

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const gap = options.gap ?? COLUMN_GAP;
  const fits = (cell: string, i: number) => cell.length <= (options.maxWidths?.[i] ?? Infinity);
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => row[i] ?? '').filter((cell) => fits(cell, i)).map((cell) => cell.length)));
  const line = (cells: readonly string[]) => {
    const lines: string[] = [];
    let current = '';
    cells.forEach((cell, i) => {
      const last = i === cells.length - 1;
      if (!fits(cell, i) && !last) {
        lines.push(`${current}${cell}`.trimEnd());
        current = ' '.repeat(current.length + (widths[i] ?? 0)) + gap;
        return;
      }
      current += last ? cell : cell.padEnd(widths[i] ?? 0) + gap;
    });
    lines.push(current.trimEnd());
    return lines.join('\n');
  };
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
