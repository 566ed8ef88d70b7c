/**
 * About sixty realistic agent tasks for the demo's `ai_autonomous_tasks` table: a mix of
 * statuses (a third of them done or failed, so the replica's filter has something to leave
 * out), priorities 1–5, the agents of the sample memories, one to three memories each, and
 * timestamps spread over a month. Deterministic (seeded), so every demo starts with the same
 * tasks.
 *
 * The memories get their ids from the master on insert, so the ids are an argument: the demo
 * reads them back (sorted) and the tasks pick among them. Every draw is made whatever the
 * ids are, so titles, statuses and times do not depend on them (the demo test counts the
 * statuses from `sampleTasks` with placeholder ids).
 */
import { prng } from "./prng.ts";

export const DEMO_TASKS_TABLE = "ai_autonomous_tasks";
/** The statuses the demo replicates: the work still to do, as the earlier system cached it. */
export const REPLICATED_TASK_STATUSES = ["pending", "in_progress"] as const;
export const DEMO_TASKS_FILTER = `status IN (${REPLICATED_TASK_STATUSES.map((s) => `'${s}'`).join(",")})`;

export type TaskStatus = "pending" | "in_progress" | "done" | "failed";

// The agents of src/dev/sampleMemories.ts (it does not export its list).
const AGENTS = ["planner", "researcher", "coder", "support-bot", "scheduler", "critic"];
const TITLES = [
  "Follow up with {person} about {project}",
  "Summarise this week's questions about {topic}",
  "Add a regression test for the outage caused by {cause}",
  "Draft the {doc} for {project}",
  "Review the open pull requests for {project}",
  "Check {source} for changes to {topic}",
  "Schedule a review of {project} with {person}",
  "Investigate {cause} reported by {person}",
  "Answer the pending ticket about {topic}",
  "Update the runbook: how to {task}",
  "Collect feedback from {person} on the {doc}",
  "Re-rank old memories about {topic}",
];
const WORDS: Record<string, string[]> = {
  person: ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran"],
  project: ["the billing migration", "the mobile app", "the data warehouse", "the onboarding flow", "the search service", "the Q3 report"],
  topic: ["postgres replication", "kubernetes upgrades", "invoice disputes", "vacation policy", "API rate limits", "vector search", "sqlite backups"],
  cause: ["an expired certificate", "a flaky test", "a missing environment variable", "a schema change", "a full disk"],
  task: ["rotate the API keys", "restore a backup", "deploy a hotfix", "onboard a new teammate", "close the monthly books"],
  source: ["the internal wiki", "the latest release notes", "the on-call runbook", "the customer's contract"],
  doc: ["design note", "postmortem", "status update", "proposal"],
};
// Cumulative weights: ~45 % pending, ~22 % in progress, ~23 % done, ~10 % failed.
const STATUSES: [TaskStatus, number][] = [["pending", 0.45], ["in_progress", 0.67], ["done", 0.9], ["failed", 1]];
const HOUR = 1;
const DAY = 24 * HOUR;

export interface SampleTask {
  readonly title: string;
  readonly status: TaskStatus;
  /** 1 (most urgent) … 5. */
  readonly priority: number;
  readonly agent: string;
  readonly memory_ids: string[];
  /** Times relative to the seeding, in hours (the demo turns them into timestamps on the master). */
  readonly created_hours_ago: number;
  /** ≤ created_hours_ago: a task is touched after it is created (a pending one usually never). */
  readonly updated_hours_ago: number;
  /** Hours after creation, or null for a task without a due date; may lie in the past (overdue). */
  readonly due_in_hours: number | null;
}

export function sampleTasks(memoryIds: readonly string[], count = 60, seed = 7): SampleTask[] {
  const random = prng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  return Array.from({ length: count }, () => {
    const title = pick(TITLES).replace(/\{(\w+)\}/g, (_m, k: string) => pick(WORDS[k]!));
    const s = random();
    const status = STATUSES.find(([, upTo]) => s < upTo)![0];
    // Skewed towards the middle: most work is priority 2–4.
    const priority = 1 + Math.min(4, Math.floor((random() + random()) * 2.5));
    const agent = pick(AGENTS);
    const created = Math.round(HOUR + random() * 30 * DAY);
    const touched = random();
    const updated = status === "pending" && touched < 0.7 ? created : Math.round(created * (1 - touched) * 0.9);
    const dueDraw = random();
    const due = dueDraw < 0.3 ? null : Math.round(DAY + dueDraw * 20 * DAY);
    const refs = 1 + Math.floor(random() * 3);
    const draws = [random(), random(), random()].slice(0, refs);
    return { title, status, priority, agent, memory_ids: distinctPicks(memoryIds, draws), created_hours_ago: created, updated_hours_ago: updated, due_in_hours: due };
  });
}

/** One id per draw, without repeats (a taken slot moves on to the next id). */
function distinctPicks(ids: readonly string[], draws: readonly number[]): string[] {
  const taken = new Set<number>();
  for (const d of draws) {
    if (taken.size >= ids.length) break;
    let i = Math.floor(d * ids.length);
    while (taken.has(i)) i = (i + 1) % ids.length;
    taken.add(i);
  }
  return [...taken].map((i) => ids[i]!);
}
