/**
 * Several statements in one round trip. node-postgres waits for each query's answer before it
 * sends the next, and on a loaded 2-core machine every round trip costs a process wake-up and
 * a socket write on both sides (~0.4 ms of CPU each when the process was idle, measured: see
 * BENCHMARKS.md, issue 13). The simple query protocol takes many statements in one message but
 * no parameters, so their values are inlined here as quoted literals — what the extended
 * protocol sends them as anyway: text of unknown type, typed by the statement.
 */
import { createHash } from "node:crypto";
import pg from "pg";

/** A statement as the extended protocol takes it: `$1`… placeholders and their values. */
export interface Statement {
  readonly text: string;
  readonly values?: readonly unknown[];
}

/** A value as the literal the server reads as it would read the same parameter. */
function literal(v: unknown, at: number): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "string") return pg.escapeLiteral(v);
  if (typeof v === "bigint" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) return `'${String(v)}'`;
  // Arrays, dates and buffers have their own text forms: pass them as parameters instead.
  throw new TypeError(`a script cannot inline parameter $${at} (${typeof v}); run this statement on its own`);
}

const identChar = /[A-Za-z0-9_$]/;

/** A statement's text cut at its placeholders: text, placeholder number, text, … (even: text). */
type Template = readonly (string | number)[];

/**
 * `text` cut at its `$n` placeholders, in one pass. String literals (dollar-quoted ones too),
 * quoted identifiers and comments are left as they are: a table called "a$1" stays one. The
 * parts are slices of `text`, never built a character at a time: a string appended to 4,000
 * times is a chain of 4,000 pieces that every later join walks again (it was 5 % of a lone
 * pull's CPU, measured with perf).
 */
function parseTemplate(text: string): Template {
  const parts: (string | number)[] = [];
  let from = 0; // where the text not yet in `parts` starts
  let i = 0;
  const copyUntil = (end: number) => void (i = end);
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      // A doubled quote stays inside; in E'…' strings a backslash escapes the next character.
      const escapes = c === "'" && i > 0 && /[Ee]/.test(text[i - 1]!) && (i < 2 || !identChar.test(text[i - 2]!));
      let j = i + 1;
      while (j < text.length) {
        if (escapes && text[j] === "\\") j += 2;
        else if (text[j] === c && text[j + 1] === c) j += 2;
        else if (text[j] === c) break;
        else j++;
      }
      copyUntil(Math.min(j + 1, text.length));
    } else if (c === "-" && text[i + 1] === "-") {
      const eol = text.indexOf("\n", i);
      copyUntil(eol < 0 ? text.length : eol);
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      copyUntil(end < 0 ? text.length : end + 2);
    } else if (c === "$" && (i === 0 || !identChar.test(text[i - 1]!)) && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(text.slice(i))) {
      // A dollar-quoted string ($$…$$, $tag$…$tag$, as a table filter may hold): left whole.
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i))![0];
      const end = text.indexOf(tag, i + tag.length);
      copyUntil(end < 0 ? text.length : end + tag.length);
    } else if (c === "$" && /[0-9]/.test(text[i + 1] ?? "") && (i === 0 || !identChar.test(text[i - 1]!))) {
      const m = /^\$([0-9]+)/.exec(text.slice(i))!;
      parts.push(text.slice(from, i), Number(m[1]));
      i += m[0].length;
      from = i;
    } else {
      i++;
    }
  }
  parts.push(text.slice(from));
  return parts;
}

/**
 * Parsed templates by text: a pull sends the same few texts with new values every time, and
 * parsing a 4 KB select list cost ~0.1 ms of each pull's CPU. Bounded (texts built from a
 * table's columns, a few per table): past the bound it starts again.
 */
const templates = new Map<string, Template>();
const TEMPLATES_MAX = 256;

/** `text` with its `$n` placeholders replaced by `values` as literals (a value that holds `$2` is never read again). */
export function inlineValues(text: string, values: readonly unknown[] = []): string {
  let t = templates.get(text);
  if (t === undefined) {
    if (templates.size >= TEMPLATES_MAX) templates.clear();
    templates.set(text, (t = parseTemplate(text)));
  }
  let out = t[0] as string;
  for (let k = 1; k < t.length; k += 2) {
    const n = t[k] as number;
    if (n < 1 || n > values.length) throw new RangeError(`placeholder $${n} has no value (${values.length} given)`);
    out += literal(values[n - 1], n) + (t[k + 1] as string);
  }
  return out;
}

/** The statements as one simple-protocol query text. */
export const scriptText = (statements: readonly Statement[]): string => statements.map((s) => inlineValues(s.text, s.values)).join("\n;\n"); // (a statement may end in a comment)

/**
 * The prepared form (Master.readScript, on connections that keep session state): a pull sends
 * the same few texts every time, and parsing, analysing and planning them was most of the
 * master's CPU per pull (0.65–0.83 ms against 0.20–0.25 prepared: BENCHMARKS.md, session 7).
 * The name is the text's hash, so a changed text (new columns) is a new statement.
 */
const names = new Map<string, string>();
export function preparedName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= TEMPLATES_MAX) names.clear();
    names.set(text, (name = `em_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`));
  }
  return name;
}

/** PREPARE `name` for `text` as written: its parameters' types are inferred, as the extended protocol infers them. */
export const prepareText = (name: string, text: string): string => `PREPARE ${name} AS ${text}`;

/** EXECUTE `name` with `values` as literals (script.ts's literal(): read as the parameters would be). */
export const executeText = (name: string, values: readonly unknown[] = []): string =>
  values.length === 0 ? `EXECUTE ${name}` : `EXECUTE ${name}(${values.map((v, i) => literal(v, i + 1)).join(", ")})`;
