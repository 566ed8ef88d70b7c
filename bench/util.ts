/** Small helpers shared by the sync benchmarks: statistics, memory sampling, GC, waiting. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { setImmediate as immediate } from "node:timers/promises";

export const MB = 1024 * 1024;
export const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

export interface Distribution {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function distribution(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    n: s.length,
    min: round(s[0] ?? NaN, 3),
    p50: round(percentile(s, 50), 3),
    p90: round(percentile(s, 90), 3),
    p99: round(percentile(s, 99), 3),
    max: round(s[s.length - 1] ?? NaN, 3),
    mean: round(mean, 3),
  };
}

export const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** A full GC (the flag is turned on at run time, so `npm run bench` needs no node flags). */
let gcFn: (() => void) | undefined;
export function fullGc(): void {
  if (!gcFn) {
    v8.setFlagsFromString("--expose-gc");
    gcFn = vm.runInNewContext("gc") as () => void;
  }
  gcFn();
  gcFn();
}

export interface RssReport {
  /** RSS when sampling started (after a full GC). */
  readonly startMB: number;
  /** Highest sampled RSS. */
  readonly peakMB: number;
  /** Highest sampled RSS while the first / second half of the rows were being copied. */
  readonly peakFirstHalfMB: number;
  readonly peakSecondHalfMB: number;
  /**
   * Highest sampled anonymous RSS (Linux's RssAnon; null elsewhere): RSS without the file
   * pages mapped into the process. The replica maps its SQLite file (store/migrations.ts
   * MMAP_BYTES), so its RSS counts the file pages it read, which without the map sit in the
   * kernel's page cache uncounted: the same memory either way, the OS's and reclaimable.
   */
  readonly peakAnonMB: number | null;
  /** Highest sampled V8 heap in use. */
  readonly peakHeapUsedMB: number;
  /** Highest sampled memory held outside the V8 heap by Buffers/ArrayBuffers. */
  readonly peakArrayBuffersMB: number;
  readonly samples: number;
}

/** This process's RssAnon from /proc/self/status (bytes), or null where there is none. */
export function rssAnonBytes(): number | null {
  try {
    const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples process memory every `intervalMs` until `stop()`; `half()` marks the run's midpoint. */
export function sampleMemory(intervalMs = 50) {
  let peak = 0;
  let firstHalf = 0;
  let secondHalf = 0;
  let heap = 0;
  let buffers = 0;
  let anon: number | null = null;
  let samples = 0;
  let inSecondHalf = false;
  const start = process.memoryUsage().rss;
  const take = () => {
    const m = process.memoryUsage();
    samples++;
    peak = Math.max(peak, m.rss);
    if (inSecondHalf) secondHalf = Math.max(secondHalf, m.rss);
    else firstHalf = Math.max(firstHalf, m.rss);
    heap = Math.max(heap, m.heapUsed);
    buffers = Math.max(buffers, m.arrayBuffers);
    const a = rssAnonBytes();
    if (a !== null) anon = Math.max(anon ?? 0, a);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    half: () => {
      take();
      inSecondHalf = true;
    },
    stop: (): RssReport => {
      take();
      clearInterval(timer);
      return {
        startMB: round(start / MB, 1),
        peakMB: round(peak / MB, 1),
        peakFirstHalfMB: round(firstHalf / MB, 1),
        peakSecondHalfMB: round(secondHalf / MB, 1),
        peakAnonMB: anon === null ? null : round(anon / MB, 1),
        peakHeapUsedMB: round(heap / MB, 1),
        peakArrayBuffersMB: round(buffers / MB, 1),
        samples,
      };
    },
  };
}

/** Polls `check` (yielding to the event loop between tries) until it is true or `timeoutMs` passes. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export { immediate };

/** Left/right-aligned text table. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

/** The commit measured, and whether src/ had uncommitted changes (figures then describe no commit). */
export function gitInfo(): { commit: string; srcDirty: boolean } | null {
  try {
    const cwd = path.join(import.meta.dirname, "..");
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() !== "";
    return { commit, srcDirty: dirty };
  } catch {
    return null;
  }
}

/** 1/5/15-minute load averages: other work on the machine skews the figures. */
export const loadavg = (): number[] => os.loadavg().map((l) => round(l, 2));

/** What a result file says about where it was measured. */
export function machineInfo(loadAtStart: number[], git: ReturnType<typeof gitInfo>) {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    totalMemMB: Math.round(os.totalmem() / MB),
    date: new Date().toISOString(),
    loadAtStart,
    loadAtEnd: loadavg(),
    git,
  };
}

/**
 * This process's own peak RSS in MB. On Linux it is VmHWM: `process.resourceUsage().maxRSS`
 * of a forked child starts at its parent's peak (the kernel keeps the high-water mark across
 * exec), so a child forked by a 400 MB parent reports ≥ 400 MB however little it used.
 */
export function peakRssMB(): number {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    if (kb) return round(Number(kb) / 1024, 1);
  } catch {
    /* not Linux */
  }
  return round(process.resourceUsage().maxRSS / 1024, 1);
}

/** Size of an SQLite file with its WAL, in MB. */
export function fileMB(file: string): number {
  let total = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      total += statSync(f).size;
    } catch {
      /* absent */
    }
  }
  return round(total / MB, 1);
}

export interface BenchSession {
  /** A temp folder for this run, removed by close(). */
  readonly dir: string;
  readonly started: number;
  readonly git: ReturnType<typeof gitInfo>;
  readonly loadAtStart: number[];
  /** Runs the caller's cleanup and removes the folder; also what Ctrl-C does (then exits 130). Safe to call twice. */
  readonly close: () => Promise<void>;
}

/** What every benchmark entry point needs around its run: a folder, facts, and one cleanup path. */
export function benchSession(prefix: string, say: (text: string) => void, cleanup: () => Promise<void>): BenchSession {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await cleanup().catch((e: unknown) => say(`  cleanup failed: ${(e as Error).message}`));
      rmSync(dir, { recursive: true, force: true });
    })());
  const onSignal = () => {
    say("interrupted: cleaning up");
    void close().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return { dir, started: Date.now(), git: gitInfo(), loadAtStart: loadavg(), close };
}

/** A whole-number setting from the environment (underscores allowed: 100_000). */
export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw.replace(/_/g, ""));
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}
