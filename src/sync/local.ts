/** A synchronous step on a replica file as an Effect: a throw becomes a LocalStoreError naming the step. */
import * as Effect from "effect/Effect";
import { LocalStoreError } from "../store/LocalStore.ts";

export const local = <A>(what: string, f: () => A): Effect.Effect<A, LocalStoreError> =>
  Effect.try({ try: f, catch: (cause) => new LocalStoreError({ message: `${what}: ${(cause as Error).message}`, cause }) });
