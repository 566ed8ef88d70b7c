/**
 * The upload machine: pushes the local outbox to the master. Pure statechart; its actors
 * (connect, upload) are provided by the composition module.
 *
 *   awaitingPool ──▶ uploading ⇄ idle          (a local write, the timer, or the master
 *        ▲              │                        coming back wakes it)
 *        └── backoff ◀──┘ transient error      (never "retry on the next write": the
 *                        or deadline            backoff timer always leaves)
 *
 * The connect step and each upload run have a deadline (deadlines.ts).
 */
import { assign, fromPromise, setup } from "xstate";
import { backoffDelayMs, errorMessage } from "./backoff.ts";
import { connectDeadlineMs, ioDeadlineMs, timedOutMessage } from "./deadlines.ts";

export interface UploadOutput {
  /** Entries acknowledged by the master in this run. */
  readonly uploaded: number;
  readonly parked: number;
  /** Entries still pending after this run (more batches to go). */
  readonly remaining: number;
}

export interface UploadMachineInput {
  readonly uploadIntervalMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  /** A random number in [0, 1) for the backoff's jitter: the runtime's, or a test's. */
  readonly random: () => number;
}

export interface UploadContext extends UploadMachineInput {
  readonly attempt: number;
  readonly lastError: string | null;
  /** A write arrived during an upload: go again right after. */
  readonly dirty: boolean;
  readonly uploaded: number;
  readonly parked: number;
}

export type UploadEvent = { type: "WRITE" } | { type: "MASTER_UP" } | { type: "STOP" };

const notProvided = (name: string) => () => Promise.reject(new Error(`actor ${name} was not provided`));

export const uploadMachine = setup({
  types: { context: {} as UploadContext, events: {} as UploadEvent, input: {} as UploadMachineInput },
  actors: {
    connect: fromPromise<void>(notProvided("connect")),
    upload: fromPromise<UploadOutput>(notProvided("upload")),
  },
  delays: {
    uploadInterval: ({ context }) => context.uploadIntervalMs,
    backoff: ({ context }) => backoffDelayMs(context.attempt, context.backoffBaseMs, context.backoffMaxMs, context.random()),
    connectDeadline: ({ context }) => connectDeadlineMs(context),
    ioDeadline: ({ context }) => ioDeadlineMs(context),
  },
  guards: {
    moreToUpload: ({ context, event }) => context.dirty || (event as unknown as { output: UploadOutput }).output.remaining > 0,
  },
  actions: {
    markDirty: assign({ dirty: true }),
    done: assign(({ context, event }) => {
      const out = (event as unknown as { output: UploadOutput }).output;
      return { attempt: 0, lastError: null, uploaded: context.uploaded + out.uploaded, parked: context.parked + out.parked };
    }),
    failed: assign(({ context, event }) => ({ attempt: context.attempt + 1, lastError: errorMessage((event as unknown as { error: unknown }).error) })),
    timedOut: assign(({ context }, params: { step: "connect" | "upload" }) => ({
      attempt: context.attempt + 1,
      lastError: timedOutMessage(params.step, params.step === "connect" ? connectDeadlineMs(context) : ioDeadlineMs(context)),
    })),
  },
}).createMachine({
  id: "upload",
  initial: "awaitingPool",
  context: ({ input }) => ({ ...input, attempt: 0, lastError: null, dirty: false, uploaded: 0, parked: 0 }),
  on: { STOP: ".stopped" },
  states: {
    awaitingPool: {
      invoke: { src: "connect", onDone: "uploading", onError: { target: "backoff", actions: "failed" } },
      after: { connectDeadline: { target: "backoff", actions: { type: "timedOut", params: { step: "connect" } } } },
    },
    uploading: {
      entry: assign({ dirty: false }),
      on: { WRITE: { actions: "markDirty" } },
      invoke: {
        src: "upload",
        onDone: [
          { guard: "moreToUpload", target: "uploading", reenter: true, actions: "done" },
          { target: "idle", actions: "done" },
        ],
        onError: { target: "backoff", actions: "failed" },
      },
      after: { ioDeadline: { target: "backoff", actions: { type: "timedOut", params: { step: "upload" } } } },
    },
    idle: {
      after: { uploadInterval: "uploading" },
      on: { WRITE: "uploading", MASTER_UP: "uploading" },
    },
    backoff: {
      after: { backoff: "awaitingPool" },
      on: { MASTER_UP: "awaitingPool" },
    },
    stopped: { type: "final" },
  },
});

export type UploadMachine = typeof uploadMachine;
export type UploadStateName = "awaitingPool" | "uploading" | "idle" | "backoff" | "stopped";
