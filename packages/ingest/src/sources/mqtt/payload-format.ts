/**
 * The content type of an MQTT payload. MQTT 3.1.1 has no content type, so it is sniffed from
 * the first bytes; an MQTT 5 `content-type` property, when present, is used as is (and the
 * ingest parser answers 415 when it names a format Strata does not take).
 *
 * Sniffing (after an optional UTF-8 byte order mark and whitespace):
 * - `[` whose first element is an object with a top-level `bn` key → SenML. Strata's SenML
 *   rules need a base name on the first record, so every valid pack has one there.
 * - any other `[` → a JSON array of events.
 * - `{` → NDJSON when the first line ends with `}` and the next non-blank line starts with `{`;
 *   otherwise one JSON object (pretty-printed objects included).
 * - anything else → JSON, so the parser explains what is wrong ("not JSON at line 1 …").
 *
 * Works on bytes: JSON's structural characters are ASCII and never occur inside a UTF-8
 * multi-byte sequence. Scans at most SNIFF_LIMIT bytes, so a huge payload costs no more.
 */
export const JSON_TYPE = 'application/json';
export const NDJSON_TYPE = 'application/x-ndjson';
export const SENML_TYPE = 'application/senml+json';

const SNIFF_LIMIT = 4096;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const NEWLINE = 0x0a;

/** The content type to parse `payload` as: the MQTT 5 property when given, else a sniffed one. */
export function payloadContentType(payload: Buffer, declared: string | undefined): string {
  if (declared !== undefined && declared.trim() !== '') return declared;
  return sniffContentType(payload);
}

export function sniffContentType(payload: Buffer): string {
  let i = payload.length >= 3 && payload[0] === 0xef && payload[1] === 0xbb && payload[2] === 0xbf ? 3 : 0;
  i = skipWs(payload, i, payload.length);
  if (payload[i] === OPEN_BRACKET) return firstRecordHasBaseName(payload, i + 1) ? SENML_TYPE : JSON_TYPE;
  if (payload[i] === OPEN_BRACE && looksLikeNdjson(payload, i)) return NDJSON_TYPE;
  return JSON_TYPE;
}

function isWs(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function skipWs(b: Buffer, i: number, end: number): number {
  while (i < end && isWs(b[i])) i++;
  return i;
}

/** `{…}` on the first line, and another `{` on the next non-blank one. */
function looksLikeNdjson(b: Buffer, start: number): boolean {
  const nl = b.indexOf(NEWLINE, start);
  if (nl < 0) return false;
  let end = nl;
  while (end > start && isWs(b[end - 1])) end--;
  if (b[end - 1] !== CLOSE_BRACE) return false;
  return b[skipWs(b, nl + 1, b.length)] === OPEN_BRACE;
}

/** Index just past the string starting at `i` (a quote), or -1 when it does not end before `end`. */
function skipString(b: Buffer, i: number, end: number): number {
  for (let j = i + 1; j < end; j++) {
    const c = b[j];
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  return -1;
}

/** Index just past the JSON value starting at `i`, or -1 when it does not end before `end`. */
function skipValue(b: Buffer, i: number, end: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i, end);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    for (let j = i; j < end; j++) {
      const d = b[j];
      if (d === QUOTE) {
        j = skipString(b, j, end) - 1;
        if (j < 0) return -1;
      } else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  // number, true, false, null: up to the next structural character or whitespace
  let j = i;
  while (j < end && !isWs(b[j]) && b[j] !== COMMA && b[j] !== CLOSE_BRACE && b[j] !== CLOSE_BRACKET) j++;
  return j === i ? -1 : j;
}

/** Whether the array whose body starts at `i` opens with an object that has a top-level `"bn"` key. */
function firstRecordHasBaseName(b: Buffer, i: number): boolean {
  const end = Math.min(b.length, i + SNIFF_LIMIT);
  i = skipWs(b, i, end);
  if (b[i] !== OPEN_BRACE) return false;
  i++;
  for (;;) {
    i = skipWs(b, i, end);
    if (b[i] !== QUOTE) return false;
    const keyStart = i + 1;
    i = skipString(b, i, end);
    if (i < 0) return false;
    if (i - keyStart === 3 && b[keyStart] === 0x62 && b[keyStart + 1] === 0x6e) return true; // "bn"
    i = skipWs(b, i, end);
    if (b[i] !== COLON) return false;
    i = skipValue(b, skipWs(b, i + 1, end), end);
    if (i < 0) return false;
    i = skipWs(b, i, end);
    if (b[i] !== COMMA) return false;
    i++;
  }
}
