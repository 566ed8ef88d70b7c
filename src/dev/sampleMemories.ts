/**
 * About a thousand realistic sample memories for the demo: several types, agents and topics,
 * two tenants plus shared rows, a spread of importance, embeddings from the `hash` provider.
 * Deterministic (seeded), so every demo starts with the same memories.
 */
import { hashEmbedding } from "../search/embedding/Embedder.ts";
import { prng } from "./prng.ts";

export const DEMO_TENANTS = ["7c9e6679-7425-40de-944b-e07fc1f90ae7", "3f2504e0-4f89-41d3-9a0c-0305e82c3301"] as const;

const AGENTS = ["planner", "researcher", "coder", "support-bot", "scheduler", "critic"];
const FACTS: [type: string, template: string][] = [
  ["semantic", "The user prefers {pref} when {activity}."],
  ["semantic", "{person} is the point of contact for {project}."],
  ["semantic", "The {project} deadline is {when}."],
  ["episodic", "On {day} the user asked about {topic} and seemed {mood}."],
  ["episodic", "Met with {person} to review {project}; agreed to {action}."],
  ["episodic", "The build for {project} failed because of {cause}; fixed by {action}."],
  ["procedural", "To {task}, first {step1}, then {step2}."],
  ["procedural", "When {topic} questions come up, check {source} before answering."],
  ["working", "Currently drafting the {doc} for {project}; next step: {action}."],
  ["working", "Waiting on {person} for feedback about {topic}."],
  ["meta", "Answers about {topic} were rated {rating} by the user this week."],
  ["meta", "The {agent} agent should hand {topic} questions to the researcher."],
];
const WORDS: Record<string, string[]> = {
  pref: ["dark mode", "short answers", "bullet points", "green tea", "morning meetings", "metric units", "email over chat"],
  activity: ["writing code", "reading reports", "planning the week", "travelling", "reviewing pull requests"],
  person: ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran"],
  project: ["the billing migration", "the mobile app", "the data warehouse", "the onboarding flow", "the search service", "the Q3 report"],
  when: ["next Friday", "the end of the month", "March 3rd", "before the board meeting", "in two weeks"],
  day: ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
  topic: ["postgres replication", "kubernetes upgrades", "invoice disputes", "vacation policy", "API rate limits", "vector search", "sqlite backups"],
  mood: ["relieved", "frustrated", "curious", "in a hurry", "pleased"],
  action: ["ship a fix on Monday", "split the work in two", "write a design note", "add a regression test", "schedule a follow-up"],
  cause: ["an expired certificate", "a flaky test", "a missing environment variable", "a schema change", "a full disk"],
  task: ["rotate the API keys", "restore a backup", "deploy a hotfix", "onboard a new teammate", "close the monthly books"],
  step1: ["announce it in the team channel", "take a fresh snapshot", "check the runbook", "freeze merges"],
  step2: ["verify the dashboards", "run the smoke tests", "update the status page", "tell the requester"],
  source: ["the internal wiki", "the latest release notes", "the on-call runbook", "the customer's contract"],
  doc: ["design note", "postmortem", "status update", "proposal"],
  rating: ["helpful", "too long", "spot on", "confusing"],
  agent: AGENTS,
};


export interface SampleMemory {
  readonly memory_type: string;
  readonly text: string;
  readonly source_agent: string;
  readonly importance_score: number;
  readonly tags: string[];
  readonly tenant_id: string | null;
  readonly embedding: number[];
  readonly days_ago: number;
}

export function sampleMemories(count = 1_000, dim = 384, seed = 42): SampleMemory[] {
  const random = prng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const [type, template] = pick(FACTS);
    const text = template.replace(/\{(\w+)\}/g, (_m, k: string) => pick(WORDS[k]!));
    const topic = WORDS.topic!.find((t) => text.includes(t));
    return {
      memory_type: type,
      text,
      source_agent: pick(AGENTS),
      importance_score: Math.round((0.1 + 0.9 * random() ** 1.5) * 100) / 100,
      tags: [type, ...(topic ? [topic.split(" ")[0]!] : [])],
      tenant_id: i % 10 === 0 ? null : DEMO_TENANTS[i % 2]!,
      embedding: Array.from(hashEmbedding(text, dim)),
      days_ago: Math.floor(random() * 120),
    };
  });
}
