/**
 * Reading a process's JSON log output (the dev mesh and the e2e tests watch their children's
 * lines): chunks as they arrive → one parsed entry per complete line that is a JSON object.
 */
export type LogEntry = Record<string, unknown>;

/**
 * A function to give each chunk of output; `onEntry` gets every complete line that parses as a
 * JSON object. A line split across chunks waits for its end; other lines are skipped (they stay
 * in whatever raw output the caller keeps).
 */
export function jsonLineSplitter(onEntry: (entry: LogEntry) => void): (chunk: string) => void {
  let partial = '';
  return (chunk) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        onEntry(JSON.parse(line) as LogEntry);
      } catch {
        // not a JSON log line
      }
    }
  };
}
