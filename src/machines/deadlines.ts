/**
 * Deadlines on the machine steps that wait on the master. The pool's own bounds (connect
 * timeout, client-side query timeout, keepalive) end most waits with an error that names the
 * statement; these deadlines are the backstop that holds even when a silent socket delivers
 * nothing at all: past one, the step's actor is stopped (its signal aborts, its Effect is
 * interrupted, the connection it held is destroyed) and the machine goes to `backoff`.
 *
 * margin = min(5 s, statementTimeoutMs / 2), so the client's own timeouts fire first.
 *   connect step (awaitingPool)              connectTimeoutMs + margin
 *   pull (syncing), upload run (uploading),
 *   each copied chunk (empty)                connectTimeoutMs + statementTimeoutMs + margin
 * The I/O steps include a connect because the pool closes connections idle for 10 s, so a
 * timer pull usually opens a fresh one. With the defaults (10 s connect, 30 s statement):
 * connect 15 s, pull / upload / chunk 45 s. With connect 500 ms and statement 1 s: 1 s and 2 s.
 */

export interface DeadlineInput {
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
}

/** The largest margin added to a deadline. */
export const DEADLINE_MARGIN_MAX_MS = 5_000;

export const deadlineMarginMs = (i: DeadlineInput): number => Math.min(DEADLINE_MARGIN_MAX_MS, Math.ceil(i.statementTimeoutMs / 2));

/** The connect step: a connection (maybe fresh) and a few catalog reads. */
export const connectDeadlineMs = (i: DeadlineInput): number => i.connectTimeoutMs + deadlineMarginMs(i);

/** A pull, an upload run, or the wait for the next copied chunk. */
export const ioDeadlineMs = (i: DeadlineInput): number => i.connectTimeoutMs + i.statementTimeoutMs + deadlineMarginMs(i);

/** What a step that timed out puts in `last_error`. */
export type TimedOutStep = "connect" | "pull" | "copy" | "upload";

export function timedOutMessage(step: TimedOutStep, ms: number): string {
  const what = step === "copy" ? "copy made no progress for" : `${step} timed out after`;
  return `${what} ${ms} ms (master not answering)`;
}
