/** Reads a JSON request body; malformed JSON is an InputError (a 400 naming `body`). */
import type { Context } from "hono";
import { InputError } from "./schemas.ts";

export async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new InputError("body", "body: expected JSON");
  }
}
