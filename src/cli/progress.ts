/** A one-line progress display on stderr, only when it is a terminal. */
export interface Progress {
  readonly update: (rows: number) => void;
  readonly done: () => void;
}

export function progressReporter(label: string, stream: NodeJS.WriteStream = process.stderr): Progress | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  let shown = false;
  return {
    update: (rows) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      stream.write(`\r${label}: ${rows.toLocaleString("en-US")} rows`);
    },
    done: () => {
      if (shown) stream.write("\n");
      shown = false;
    },
  };
}
