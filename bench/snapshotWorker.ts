/** Child-process entry for one snapshot run (see runSnapshotInChild): job in, result out over IPC. */
import { runSnapshot, type SnapshotJob } from "./snapshot.ts";
import { peakRssMB } from "./util.ts";

process.once("message", (job: SnapshotJob) => {
  runSnapshot(job)
    .then((run) => ({ ok: true as const, run: { ...run, isolated: true, processMaxRssMB: peakRssMB() } }))
    .catch((e: unknown) => ({ ok: false as const, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }))
    .then((message) => process.send!(message, () => process.disconnect()));
});
