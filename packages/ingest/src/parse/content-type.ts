/** The payload formats ingest understands, by media type (RFC 9110 §8.3: case-insensitive). */
export type PayloadFormat = 'json' | 'ndjson' | 'senml';

const FORMATS: Record<string, PayloadFormat> = {
  'application/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/senml+json': 'senml',
};

export const ACCEPTED_TYPES = Object.keys(FORMATS).join(', ');

/**
 * The format for a Content-Type header, or a reason for a 415. Parameters other than
 * `charset` are ignored; `charset` must be utf-8 (RFC 8259 §8.1: JSON is UTF-8).
 */
export function formatFor(contentType: string | undefined): PayloadFormat | { reason: string } {
  if (contentType === undefined || contentType.trim() === '') {
    return { reason: `no Content-Type; send one of ${ACCEPTED_TYPES}` };
  }
  const parts = contentType.split(';');
  const mediaType = parts[0]!.trim().toLowerCase();
  const format = FORMATS[mediaType];
  if (format === undefined || !Object.hasOwn(FORMATS, mediaType)) {
    return { reason: `${JSON.stringify(mediaType.slice(0, 60))} is not accepted; send one of ${ACCEPTED_TYPES}` };
  }
  for (let i = 1; i < parts.length; i++) {
    const param = parts[i]!;
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    if (param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    let value = param.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.toLowerCase() !== 'utf-8') {
      return { reason: `charset ${JSON.stringify(value.slice(0, 40))} is not accepted; bodies must be UTF-8 (charset=utf-8 or none)` };
    }
  }
  return format;
}
