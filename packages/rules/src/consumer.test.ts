import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TelemetryEvent } from '@strata/core';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { openEmbeddedStream, type Stream } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import { OutboxPublisher } from './alerts/publisher.js';
import { changeAlert } from './alerts/repository.js';
import { startRulesConsumer, type RulesConsumer } from './consumer.js';
import { validateRule } from './definition/validate.js';
import type { AlertEvent } from './types.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const s = (seconds: number) => T0 + seconds * 1000;
let seq = 0;

function event(device: string, at: number, metrics: Record<string, number>, extra: Partial<TelemetryEvent> & { replay?: boolean } = {}): TelemetryEvent {
  const iso = new Date(at).toISOString();
  return { id: `e-${++seq}`, device, ts: iso, received_at: iso, metrics, source: 'test', ...extra };
}

const RULES = [
  { id: 'fever', title: 'Fever', severity: 'high', condition: { type: 'threshold', metric: 't', op: '>=', value: 38.5, forSeconds: 60, escalate: [{ op: '>=', value: 39.5, severity: 'critical' }] } },
  { id: 'silent', title: 'Silent', condition: { type: 'missing', afterSeconds: 60 } },
  { id: 'pain', title: 'Pain', autoResolve: false, condition: { type: 'threshold', metric: 'pain', op: '>=', value: 7 } },
].map((r) => ({ rule: validateRule(r), version: 1 }));

describe('rules consumer', () => {
  let db: TestDb;
  let stream: Stream;
  let dir: { dir: string; remove(): void };
  let publisher: OutboxPublisher;
  let clock = s(0);
  const running: RulesConsumer[] = [];

  const start = async (opts: { snapshotMs?: number } = {}) => {
    const c = await startRulesConsumer({ db, stream, publisher, registry: { current: () => RULES, refresh: async () => false, generation: 0 }, now: () => clock, tickMs: 3_600_000, snapshotMs: opts.snapshotMs ?? 3_600_000 });
    running.push(c);
    return c;
  };
  const send = (events: (TelemetryEvent | string)[]) =>
    stream.append('telemetry', events.map((e) => (typeof e === 'string' ? { key: 'junk', value: Buffer.from(e) } : { key: e.device, value: Buffer.from(JSON.stringify(e)) })));
  const alerts = () => db.kysely.selectFrom('alerts').selectAll().orderBy('opened_at').orderBy('id').execute();
  /** Every event published on the alerts topic so far. */
  const published = async (): Promise<AlertEvent[]> => {
    await publisher.stop();
    const out: AlertEvent[] = [];
    for (const p of (await stream.describe('alerts')).partitions) {
      for (const r of await stream.read('alerts', p.partition, 0, { maxRecords: 10_000 })) out.push(JSON.parse(r.value.toString()) as AlertEvent);
    }
    publisher = new OutboxPublisher({ db, stream, topic: 'alerts' });
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  };

  beforeEach(async () => {
    clock = s(0);
    db = await openTestDatabase();
    dir = tempDir('rules-consumer');
    stream = await openEmbeddedStream({ dir: dir.dir });
    await stream.ensureTopic('telemetry', { partitions: 2 });
    await stream.ensureTopic('alerts', { partitions: 2 });
    publisher = new OutboxPublisher({ db, stream, topic: 'alerts' });
  });
  afterEach(async () => {
    for (const c of running.splice(0)) await c.stop();
    await publisher.stop();
    await stream.close();
    await db.dispose();
    dir.remove();
  });

  it('writes an alert through its life once, and publishes each change on the alerts topic', async () => {
    const c = await start();
    await send([event('p', s(0), { t: 38.6 }), event('p', s(30), { t: 38.7 }), event('p', s(60), { t: 38.8 }), event('p', s(90), { t: 39.6 }), event('p', s(120), { t: 37 })]);
    await c.caughtUp();
    const rows = await alerts();
    expect(rows.map((a) => [a.rule_id, a.device_id, a.status, a.severity, a.count, a.value, a.resolved_by, a.opened_at.toISOString()])).toEqual([
      ['fever', 'p', 'resolved', 'critical', 1, 39.6, 'rule', new Date(s(60)).toISOString()], // value: the last that made it fire
    ]);
    expect((await published()).map((e) => [e.type, e.severity, e.alert_id])).toEqual([
      ['opened', 'high', rows[0]!.id],
      ['escalated', 'critical', rows[0]!.id],
      ['resolved', 'critical', rows[0]!.id],
    ]);
  });

  it('picks up after a restart from its snapshot: a timer started before it fires after, nothing is raised twice', async () => {
    let c = await start();
    await send([event('p', s(0), { t: 39 }), event('q', s(0), { t: 39 }), event('q', s(60), { t: 39 })]);
    await c.caughtUp();
    await c.stop(); // snapshots
    expect((await alerts()).map((a) => a.device_id)).toEqual(['q']);
    c = await start();
    await send([event('p', s(61), { t: 39 }), event('q', s(120), { t: 39 })]);
    await c.caughtUp();
    expect((await alerts()).map((a) => [a.device_id, a.count, a.status])).toEqual([
      ['q', 1, 'open'],
      ['p', 1, 'open'],
    ]);
  });

  it('without a snapshot, replays the stream to rebuild state but writes nothing twice', async () => {
    let c = await start();
    await send([event('q', s(0), { t: 39 }), event('q', s(60), { t: 39 }), event('q', s(90), { t: 30 }), event('q', s(100), { t: 39 })]);
    await c.caughtUp();
    // Stopped without its final snapshot: the next start replays from the beginning.
    await db.kysely.deleteFrom('rule_snapshots').execute();
    await c.stop();
    await db.kysely.deleteFrom('rule_snapshots').execute();
    c = await start();
    await send([event('q', s(160), { t: 39 })]);
    await c.caughtUp();
    expect((await alerts()).map((a) => [a.status, a.opened_at.toISOString()])).toEqual([
      ['resolved', new Date(s(60)).toISOString()],
      ['open', new Date(s(160)).toISOString()],
    ]);
    expect((await published()).filter((e) => e.type === 'opened')).toHaveLength(2);
  });

  it('heartbeat: raised on the clock, not raised again after a restart, resolved by the next event', async () => {
    let c = await start();
    await send([event('m', s(0), { x: 1 })]);
    await c.caughtUp();
    clock = s(59);
    await c.tick();
    expect(await alerts()).toEqual([]);
    clock = s(61);
    await c.tick();
    expect((await alerts()).map((a) => [a.rule_id, a.device_id, a.status])).toEqual([['silent', 'm', 'open']]);
    await c.stop();
    clock = s(200);
    c = await start();
    await c.tick();
    expect((await alerts()).map((a) => a.count)).toEqual([1]);
    await send([event('m', s(210), { x: 2 })]);
    await c.caughtUp();
    expect((await alerts()).map((a) => [a.status, a.resolved_by])).toEqual([['resolved', 'rule']]);
  });

  it('an alert resolved by hand while its condition holds stays resolved until the rule clears and fires again', async () => {
    const c = await start();
    await send([event('p', s(0), { t: 39 }), event('p', s(60), { t: 39 })]);
    await c.caughtUp();
    const [first] = await alerts();
    await changeAlert(db, first!.id, 'resolve', 'user:nurse', 'seen', ['machine', 'patient', 'sensor']);
    await send([event('p', s(70), { t: 39.7 })]);
    await c.caughtUp();
    expect((await alerts()).map((a) => [a.status, a.severity, a.resolved_by])).toEqual([['resolved', 'high', 'user:nurse']]);
    await send([event('p', s(80), { t: 37 }), event('p', s(90), { t: 39 }), event('p', s(150), { t: 39 })]);
    await c.caughtUp();
    expect((await alerts()).map((a) => a.status)).toEqual(['resolved', 'open']);
  });

  it('counts a rule firing again into its unresolved alert instead of opening another', async () => {
    const c = await start();
    await send([event('p', s(0), { pain: 8 }), event('p', s(10), { pain: 2 }), event('p', s(20), { pain: 9 })]);
    await c.caughtUp();
    expect((await alerts()).map((a) => [a.rule_id, a.status, a.count, a.value])).toEqual([['pain', 'open', 2, 9]]);
    expect((await published()).map((e) => [e.type, e.count])).toEqual([
      ['opened', 1],
      ['repeated', 2],
    ]);
  });

  it('skips garbage and replayed history, and keeps going', async () => {
    const c = await start();
    await send(['not json', '{"device":1}', event('p', s(0), { t: 40 }, { replay: true }), event('p', s(0), { t: 40 }), event('p', s(60), { t: 40 })]);
    await c.caughtUp();
    expect(c.stats()).toMatchObject({ invalid: 2, replayed: 1, events: 2 });
    expect((await alerts()).map((a) => [a.severity, a.opened_at.toISOString()])).toEqual([['critical', new Date(s(60)).toISOString()]]);
  });
});
