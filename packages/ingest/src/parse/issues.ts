import type { IngestIssue } from './types.js';

/** At most this many issues are listed; one more summarises the rest. */
export const MAX_ISSUES = 100;
const QUOTE_MAX = 40;

/** Collects one issue per invalid item, keeping the list bounded. */
export class IssueList {
  readonly #list: IngestIssue[] = [];
  #count = 0;
  #firstOmitted = -1;

  get count(): number {
    return this.#count;
  }

  add(index: number, field: string, reason: string): void {
    this.#count++;
    if (this.#list.length < MAX_ISSUES) this.#list.push({ index, field, reason });
    else if (this.#firstOmitted < 0) this.#firstOmitted = index;
  }

  /** The listed issues plus, when some were left out, one `and N more` summary. */
  toArray(): IngestIssue[] {
    const omitted = this.#count - this.#list.length;
    if (omitted === 0) return this.#list;
    return [...this.#list, { index: this.#firstOmitted, field: '', reason: `and ${omitted} more invalid item(s) not listed` }];
  }
}

/** Cuts a string to about 40 characters without splitting a surrogate pair. */
export function clip(s: string): string {
  if (s.length <= QUOTE_MAX) return s;
  let end = QUOTE_MAX;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return s.slice(0, end) + '…';
}

/** Input quoted for a reason: JSON string syntax, so control characters stay visible. */
export function quote(s: string): string {
  return JSON.stringify(clip(s));
}

/** A short description of a JSON value's type for "got …" reasons. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'object':
      return 'an object';
    case 'string':
      return `a string ${quote(v as string)}`;
    case 'number':
      return `the number ${String(v)}`;
    case 'boolean':
      return String(v);
    default:
      return typeof v;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `prefix.key` with the key clipped, so that issue fields stay bounded too. */
export function fieldPath(prefix: string, key: string): string {
  return prefix === '' ? clip(key) : `${prefix}.${clip(key)}`;
}

/** The character at `i` in single quotes, escaped as in JSON when it is not printable. */
export function charAt(text: string, i: number): string {
  return `'${JSON.stringify(String.fromCodePoint(text.codePointAt(i)!)).slice(1, -1)}'`;
}
