/**
 * Backoff with "equal jitter": half the exponential step plus a random half, capped.
 * base 250 ms, cap 30 s → attempt 1: 125–250 ms, 2: 250–500, 3: 0.5–1 s, 4: 1–2 s,
 * 5: 2–4 s, 6: 4–8 s, 7: 8–16 s, 8 and later: 15–30 s. Never zero, never above the cap.
 */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: number): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (random * step) / 2);
}

export const errorMessage = (error: unknown): string => {
  if (error && typeof error === "object" && "message" in error && typeof error.message === "string" && error.message) return error.message;
  return String(error);
};
