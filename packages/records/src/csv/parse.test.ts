import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordsErrors } from '../errors.js';
import { CSV_COLUMNS } from '../types.js';
import { checkHeader, readCsv, type ParsedRow } from './parse.js';

const HEADER = CSV_COLUMNS.join(',');

/** All records `readCsv` yields for `chunks`, batches flattened. */
async function readAll(chunks: Iterable<Buffer | string>, batchSize?: number): Promise<ParsedRow[]> {
  const rows: ParsedRow[] = [];
  for await (const batch of readCsv(toAsync(chunks), batchSize === undefined ? {} : { batchSize })) rows.push(...batch);
  return rows;
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/** The file error `readCsv` throws for `chunks`, or a failure if it throws none. */
async function fileError(chunks: Iterable<Buffer | string>): Promise<Error> {
  try {
    await readAll(chunks);
  } catch (err) {
    expect(recordsErrors.STRATA_ERR_RECORDS_BAD_FILE.is(err)).toBe(true);
    return err as Error;
  }
  throw new Error('expected STRATA_ERR_RECORDS_BAD_FILE');
}

const fields15 = (prefix: string): string[] => CSV_COLUMNS.map((_, i) => `${prefix}${i}`);

/** RFC 4180 field: quoted when it holds a comma, quote, CR or LF (or when asked). */
function quoteField(value: string, always: boolean): string {
  return always || /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function lineBreaks(value: string): number {
  return value.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/** Splits `whole` at the given fractions of its length. */
function splitAt<T extends string | Buffer>(whole: T, cuts: number[]): T[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * whole.length)))].sort((a, b) => a - b);
  const out: T[] = [];
  let from = 0;
  for (const p of points) {
    out.push(whole.slice(from, p) as T);
    from = p;
  }
  out.push(whole.slice(from) as T);
  return out;
}

/** `whole` in pieces of `size`. */
function pieces<T extends string | Buffer>(whole: T, size: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < whole.length; i += size) out.push(whole.slice(i, i + size) as T);
  return out;
}

describe('readCsv: any RFC 4180 table reads back as written', () => {
  // Any text but NUL (a NUL byte marks a binary file). Full Unicode, so multi-byte UTF-8 and
  // surrogate pairs get split across chunks too.
  const field = fc.string({ unit: fc.oneof(fc.constantFrom(',', '"', '\r', '\n', '\r\n', ' ', 'a'), fc.string({ unit: 'binary', maxLength: 1 })), maxLength: 12 }).filter((s) => !s.includes('\0'));
  const record = fc.array(field, { minLength: 1, maxLength: 16 });
  const table = fc.array(fc.record({ fields: record, quoteAll: fc.boolean(), blankLinesBefore: fc.nat(2) }), { maxLength: 25 });

  it('with CRLF or LF, with or without BOM, split into chunks anywhere, as strings or bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        table,
        fc.constantFrom('\r\n', '\n'),
        fc.boolean(),
        fc.boolean(),
        // Cut at random places, or into pieces of 1..3 characters (every boundary, every state).
        fc.oneof(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }), fc.integer({ min: 1, max: 3 })),
        fc.constantFrom('string', 'buffer'),
        async (records, eol, bom, finalEol, cuts, kind) => {
          let text = `${bom ? '\uFEFF' : ''}${HEADER}${eol}`;
          let line = 2;
          const expected: ParsedRow[] = [];
          records.forEach((r, i) => {
            text += eol.repeat(r.blankLinesBefore);
            line += r.blankLinesBefore;
            // A lone empty field must be quoted, or it is a blank line.
            const quoteAll = r.quoteAll || (r.fields.length === 1 && r.fields[0] === '');
            text += r.fields.map((f) => quoteField(f, quoteAll)).join(',');
            if (i < records.length - 1 || finalEol) text += eol;
            expected.push({ line, fields: r.fields });
            line += 1 + r.fields.reduce((n, f) => n + lineBreaks(f), 0);
          });
          const whole = kind === 'string' ? text : Buffer.from(text, 'utf8');
          const chunks = typeof cuts === 'number' ? pieces(whole, cuts) : splitAt(whole, cuts);
          expect(await readAll(chunks, 7)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('readCsv', () => {
  it('skips the header and yields batches of at most batchSize records', async () => {
    const body = Array.from({ length: 25 }, (_, i) => fields15(`r${i}-`).join(',')).join('\r\n');
    const sizes: number[] = [];
    for await (const batch of readCsv(toAsync([`${HEADER}\r\n${body}\r\n`]), { batchSize: 10 })) sizes.push(batch.length);
    expect(sizes).toEqual([10, 10, 5]);
  });

  it('reports the line where a record starts, counting line breaks inside quotes', async () => {
    const a = fields15('a');
    a[7] = 'Sons\r\nand\nMiller';
    const rows = await readAll([`${HEADER}\r\n${a.map((f) => quoteField(f, false)).join(',')}\r\n\r\n${fields15('b').join(',')}\r\n`]);
    expect(rows.map((r) => r.line)).toEqual([2, 6]);
    expect(rows[0]!.fields[7]).toBe('Sons\r\nand\nMiller');
  });

  it('keeps quoted commas and doubled quotes, and an empty quoted field', async () => {
    const rows = await readAll([`${HEADER}\n"Smith, Jones and ""North""",,""\n`]);
    expect(rows[0]!.fields).toEqual(['Smith, Jones and "North"', '', '']);
  });

  it('passes a record with the wrong number of fields on, for cleaning to reject', async () => {
    const rows = await readAll([`${HEADER}\r\na,b\r\n${fields15('x').join(',')},extra\r\n`]);
    expect(rows.map((r) => [r.line, r.fields.length])).toEqual([
      [2, 2],
      [3, 16],
    ]);
  });

  it('reads a header-only file as no rows', async () => {
    expect(await readAll([`\uFEFF${HEADER}\r\n`])).toEqual([]);
  });

  it('refuses an unterminated quote, naming the line where it opened', async () => {
    const err = await fileError([`${HEADER}\r\n${fields15('a').join(',')}\r\nx,"never closed\r\nmore,rows\r\n`]);
    expect(err.message).toMatch(/line 3: unterminated quoted field/);
  });

  it('refuses text after a closing quote and a quote inside an unquoted field, with the line', async () => {
    expect((await fileError([`${HEADER}\r\na,"b"c\r\n`])).message).toMatch(/line 2: text after the closing quote/);
    expect((await fileError([`${HEADER}\nok\nab"c\n`])).message).toMatch(/line 3: quote inside an unquoted field/);
  });

  it('refuses a record longer than maxRecordChars (a runaway quote does not eat the memory)', async () => {
    const chunks = [`${HEADER}\r\n"`, ...Array.from({ length: 10 }, () => 'x'.repeat(1000))];
    await expect(async () => {
      for await (const batch of readCsv(toAsync(chunks), { maxRecordChars: 5000 })) void batch;
    }).rejects.toThrow(/quoted field opened on line 2 is longer than 5000 characters/);
  });

  it('refuses binary input: bytes that are not UTF-8, or NUL', async () => {
    expect((await fileError([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe])])).message).toMatch(/not UTF-8/);
    expect((await fileError([`${HEADER}\r\nab\0cd\r\n`])).message).toMatch(/NUL/);
    // A UTF-8 sequence cut short at the end of the file.
    expect((await fileError([Buffer.from(`${HEADER}\r\nJos`), Buffer.from([0xc3])])).message).toMatch(/not UTF-8/);
  });

  it('refuses an empty file', async () => {
    expect((await fileError([])).message).toMatch(/empty file/);
    expect((await fileError(['\uFEFF', '\r\n\r\n'])).message).toMatch(/empty file/);
  });

  it('refuses a file whose header is not the healthcare columns', async () => {
    expect((await fileError(['id,name,value\r\n1,2,3\r\n'])).message).toMatch(/missing columns "Name", "Age", "Gender", "Blood Type", "Medical Condition" and 10 more; unexpected columns "id", "name", "value"/);
  });
});

describe('checkHeader', () => {
  it('accepts the columns, surrounding spaces allowed', () => {
    expect(() => checkHeader(CSV_COLUMNS.map((c) => ` ${c} `))).not.toThrow();
  });

  it('names missing and unexpected columns', () => {
    const header = CSV_COLUMNS.filter((c) => c !== 'Billing Amount').map((c) => (c === 'Room Number' ? 'Room' : c));
    expect(() => checkHeader(header)).toThrow('not a healthcare CSV: header: missing columns "Billing Amount", "Room Number"; unexpected columns "Room"');
  });

  it('names a duplicated column as unexpected', () => {
    expect(() => checkHeader([...CSV_COLUMNS, 'Name'])).toThrow(/unexpected columns "Name"$/);
  });

  it('refuses the right columns in the wrong order', () => {
    const header = [...CSV_COLUMNS];
    [header[0], header[1]] = [header[1]!, header[0]!];
    expect(() => checkHeader(header)).toThrow(/columns out of order/);
  });
});
