/** The sync machine's pull pacing: a named policy with its delay series (STYLE: the machine owns the visible waits). */

/**
 * Pull pacing, so that a fleet of replicas shares one master (issue 13; measured with
 * bench/fleet.ts). A change wakes every replica with the same NOTIFY: from idle each pull waits a
 * random 0–PULL_SPREAD_MAX_MS (pullSpreadMs) before it queries, so they do not all query in the
 * same millisecond (0 turns the spread off; keep it to a few ms, it is added to every lone
 * commit's latency). The lone pull waits it inside `syncing` rather than in a state of its own:
 * each transition costs a lone pull CPU (bench/pullCpu.ts), and changes seen before the pull
 * queried are still absorbed by it (PullOutput.changesAtQuery). What arrives during a pull is
 * one follow-up pull, at once. A burst that
 * keeps the pulls dirty is paced: the k-th follow-up in a row (k ≥ 2) first waits in
 * `settling` FOLLOW_UP_BASE_MS·2^(k−2), at most FOLLOW_UP_MAX_MS (plus the spread) — so a
 * stream of commits costs each replica at most ~1000/FOLLOW_UP_MAX_MS pulls a second and
 * leaves it at most about that far behind. A paced burst that pauses for less than
 * FOLLOW_UP_MAX_MS keeps its pace. Lone commits are not paced, however often they come: it
 * takes changes arriving during two pulls, in a row or less than FOLLOW_UP_MAX_MS apart.
 */
export const PULL_SPREAD_MAX_MS = 5;
export const FOLLOW_UP_BASE_MS = 10;
/**
 * The follow-ups of a burst wait 0, 10, 20, 40, 80, 160, 320, then 500 ms each (plus the spread):
 * a stream of commits costs a replica at most 2 pulls a second and leaves it at most ~0.5 s
 * behind. It was 200 ms: on 2 cores shared by 20 replica processes a 1,000-commit burst lasts
 * 4.5–6.5 s, and 200 ms gave 22–27 pulls per replica for it (issue 13's target is ≤ 20).
 */
export const FOLLOW_UP_MAX_MS = 500;

/** The fleet's spread: 0 to PULL_SPREAD_MAX_MS whole ms; `random` in [0, 1). */
export function pullSpreadMs(random: number): number {
  return Math.floor(random * (PULL_SPREAD_MAX_MS + 1));
}

/** The wait before the `followUps`-th follow-up pull in a row (0: a change seen in idle), spread included; `random` in [0, 1). */
export function pullPacingMs(followUps: number, random: number): number {
  const gap = followUps < 2 ? 0 : Math.min(FOLLOW_UP_MAX_MS, FOLLOW_UP_BASE_MS * 2 ** (followUps - 2));
  return gap + pullSpreadMs(random);
}
