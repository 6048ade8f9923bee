/**
 * Micro-benchmark of the ingest hot path: parseIngestBody + encodeEvents on 500-event bodies,
 * against a bare JSON.parse of the same bytes (the floor any JSON parser pays).
 *
 *   node --import tsx packages/ingest/bench/parse.ts [--seconds 2]
 *
 * `parse+stringify` is the same pipeline with the obvious encoder (JSON.stringify + Buffer.from
 * per event), to show what the hand-built JSON buys. Prints a table, then one JSON line.
 */
import { DEFAULT_INGEST_LIMITS, uuidv7 } from '@strata/core';
import { encodeEvents, parseIngestBody } from '../src/parse/index.js';

const BATCH = 500;
const BODIES = 64;
const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1]) || 2;

const nowMs = Date.UTC(2025, 11, 4, 12, 30);
const ctx = { nowMs, limits: DEFAULT_INGEST_LIMITS };

let seed = 42;
function rand(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
const round1 = (x: number) => Math.round(x * 10) / 10;

/** seed-002 flat events: `{"sensorId","temperature","humidity","timestamp"}`. */
function flatEvent(i: number): Record<string, unknown> {
  return {
    sensorId: `sensor-${String(i % 1000).padStart(4, '0')}`,
    temperature: round1(60 + rand() * 30),
    humidity: round1(30 + rand() * 40),
    timestamp: new Date(nowMs - Math.floor(rand() * 60_000)).toISOString(),
  };
}

/** Canonical health events with a client id, four metrics (one boolean) and a tag. */
function canonicalEvent(i: number): Record<string, unknown> {
  return {
    id: `bed-${i % 200}-${Math.floor(rand() * 1e9)}`,
    device: `bed-${i % 200}`,
    ts: nowMs - Math.floor(rand() * 60_000),
    metrics: { hr: 60 + Math.floor(rand() * 40), spo2: 90 + Math.floor(rand() * 10), temp: round1(36 + rand() * 3), on_oxygen: rand() < 0.2 },
    tags: { ward: 'B' },
  };
}

function senmlPack(b: number): Record<string, unknown>[] {
  const pack: Record<string, unknown>[] = [];
  for (let i = 0; i < BATCH; i++) {
    pack.push({ bn: `sensor-${(b * BATCH + i) % 1000}:`, bt: (nowMs - i * 1000) / 1000, n: 'temperature', u: 'Cel', v: round1(20 + rand() * 5) });
  }
  return pack;
}

interface Case {
  name: string;
  contentType: string;
  bodies: Buffer[];
}

function bodies(make: (b: number) => string): Buffer[] {
  return Array.from({ length: BODIES }, (_, b) => Buffer.from(make(b)));
}

const cases: Case[] = [
  { name: 'json seed-002', contentType: 'application/json', bodies: bodies((b) => JSON.stringify(Array.from({ length: BATCH }, (_, i) => flatEvent(b * BATCH + i)))) },
  { name: 'json canonical', contentType: 'application/json', bodies: bodies((b) => JSON.stringify(Array.from({ length: BATCH }, (_, i) => canonicalEvent(b * BATCH + i)))) },
  {
    name: 'ndjson seed-002',
    contentType: 'application/x-ndjson',
    bodies: bodies((b) => Array.from({ length: BATCH }, (_, i) => JSON.stringify(flatEvent(b * BATCH + i))).join('\n')),
  },
  { name: 'senml', contentType: 'application/senml+json', bodies: bodies((b) => JSON.stringify(senmlPack(b))) },
];

/** One timed round: `fn` over the bodies for about `ms`; returns events per second. */
function round(c: Case, fn: (body: Buffer) => number, ms: number): number {
  let events = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(ms * 1e6));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < BODIES; i++) events += fn(c.bodies[i]!);
    elapsed = process.hrtime.bigint() - start;
  }
  return events / (Number(elapsed) / 1e9);
}

/**
 * Best round of each variant, rounds interleaved: on a shared machine the best round is the
 * figure least disturbed by other processes (the median is printed too).
 */
function measure(c: Case, variants: Record<string, (body: Buffer) => number>): Record<string, { best: number; median: number }> {
  const names = Object.keys(variants);
  for (const name of names) round(c, variants[name]!, 200); // warm-up
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  const rounds = Math.max(3, Math.round((seconds * 1000) / 200));
  for (let r = 0; r < rounds; r++) for (const name of names) samples.get(name)!.push(round(c, variants[name]!, 200));
  const out: Record<string, { best: number; median: number }> = {};
  for (const [name, xs] of samples) {
    xs.sort((a, b) => a - b);
    out[name] = { best: Math.round(xs[xs.length - 1]!), median: Math.round(xs[Math.floor(xs.length / 2)]!) };
  }
  return out;
}

function bareParse(body: Buffer): number {
  const doc = JSON.parse(body.toString('utf8')) as unknown;
  return Array.isArray(doc) ? doc.length : BATCH;
}

function bareNdjson(body: Buffer): number {
  const text = body.toString('utf8');
  let n = 0;
  for (let pos = 0; pos < text.length; ) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    JSON.parse(text.slice(pos, nl));
    n++;
    pos = nl + 1;
  }
  return n;
}

function parseOnly(contentType: string) {
  return (body: Buffer): number => {
    const r = parseIngestBody(body, contentType, ctx);
    if (!r.ok) throw new Error(JSON.stringify(r.issues.slice(0, 2)));
    return r.events.length;
  };
}

function parseEncode(contentType: string) {
  return (body: Buffer): number => {
    const r = parseIngestBody(body, contentType, ctx);
    if (!r.ok) throw new Error(JSON.stringify(r.issues.slice(0, 2)));
    return encodeEvents(r.events, { nowMs, source: 'http' }).records.length;
  };
}

function encodeViaStringify(contentType: string) {
  return (body: Buffer): number => {
    const r = parseIngestBody(body, contentType, ctx);
    if (!r.ok) throw new Error('invalid');
    const receivedAt = new Date(nowMs).toISOString();
    let n = 0;
    for (const ev of r.events) {
      const value = Buffer.from(
        JSON.stringify({ id: ev.id ?? uuidv7(nowMs), device: ev.device, ts: new Date(ev.tsMs).toISOString(), metrics: ev.metrics, tags: ev.tags, received_at: receivedAt, source: 'http' }),
      );
      n += value.length > 0 ? 1 : 0;
    }
    return n;
  };
}

const results: Record<string, unknown> = {};
const fmt = (x: { best: number; median: number }) => `${Math.round(x.best / 1000)}k (${Math.round(x.median / 1000)}k)`;
console.log(`batch ${BATCH} events, ${BODIES} distinct bodies, ~${seconds} s per variant, node ${process.version}; events/s best (median) of rounds`);
console.log(`${'case'.padEnd(16)} ${'bare JSON.parse'.padStart(16)} ${'parse'.padStart(16)} ${'parse+encode'.padStart(16)} ${'parse+stringify'.padStart(16)} ${'B/event'.padStart(8)}`);
for (const c of cases) {
  const r = measure(c, {
    bareParse: c.contentType === 'application/x-ndjson' ? bareNdjson : bareParse,
    parse: parseOnly(c.contentType),
    parseEncode: parseEncode(c.contentType),
    parseStringify: encodeViaStringify(c.contentType),
  });
  const bytesPerEvent = Math.round(c.bodies.reduce((n, b) => n + b.length, 0) / (BODIES * BATCH));
  results[c.name] = { ...r, bodyBytesPerEvent: bytesPerEvent };
  console.log(`${c.name.padEnd(16)} ${fmt(r.bareParse!).padStart(16)} ${fmt(r.parse!).padStart(16)} ${fmt(r.parseEncode!).padStart(16)} ${fmt(r.parseStringify!).padStart(16)} ${String(bytesPerEvent).padStart(8)}`);
}
console.log(JSON.stringify({ bench: 'ingest-parse', node: process.version, batch: BATCH, eventsPerSecond: results }));
