import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuleEngine, validateRule, type Transition } from '@strata/rules';
import { openLocalStore } from '@strata/storage';
import { countBy, readRawZone, startServerProcess, type ServerProcess } from '@strata/testkit';
import { seededDataDir } from '@strata/db/testing';
import { TELEMETRY_TOPIC } from './platform.js';

const running: ServerProcess[] = [];
const temps: { remove(): void }[] = [];
afterEach(() => {
  for (const s of running.splice(0)) s.child.kill('SIGKILL');
  for (const t of temps.splice(0)) t.remove();
});

/** Raised while v > 50, resolved by the rule as soon as v ≤ 50. */
const RULE = { id: 'over', title: 'Over', condition: { type: 'threshold', metric: 'v', op: '>', value: 50 } };
const DEVICES = Array.from({ length: 12 }, (_, i) => `dev-${i}`);
const WORKERS = 4;
const EVENTS_PER_REQUEST = 20;

/** An alert as a user sees it: when it opened and when (if yet) the rule resolved it. */
interface AlertSpan {
  openedAt: string;
  resolvedAt: string | null;
}

interface AlertReply extends AlertSpan {
  id: string;
  ruleId: string;
  device: string;
  count: number;
  resolvedBy: string | null;
}

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function start(dataDir: string, configFile: string): Promise<ServerProcess> {
  const server = await startServerProcess(['--data', dataDir, '--no-demo', '--config', configFile], { STRATA_LOG_LEVEL: 'warn' });
  running.push(server);
  return server;
}

/**
 * Concurrent workers, each owning the devices with `i % WORKERS == w` and sending one request at
 * a time, so each device's events enter the stream in the order of their `ts`. Device d's k-th
 * event: ts = base + k s, v = 80 for k % 7 < 3 else 10 (an alert opens at k % 7 == 0 and the rule
 * resolves it at k % 7 == 3), and a `seq` unique across the run.
 */
async function loadUntilStopped(url: string, key: string, base: number, stop: { now: boolean }, acked: Set<number>): Promise<string | undefined> {
  let failure: string | undefined;
  let nextSeq = 0;
  const worker = async (w: number): Promise<void> => {
    const mine = DEVICES.filter((_, i) => i % WORKERS === w);
    const sent = new Map(mine.map((d) => [d, 0]));
    let turn = 0;
    while (!stop.now) {
      const body = Array.from({ length: EVENTS_PER_REQUEST }, () => {
        const device = mine[turn++ % mine.length]!;
        const k = sent.get(device)!;
        sent.set(device, k + 1);
        return { device, ts: new Date(base + k * 1000).toISOString(), metrics: { v: k % 7 < 3 ? 80 : 10, seq: nextSeq++ } };
      });
      try {
        const res = await fetch(`${url}/v1/ingest`, { method: 'POST', headers: { ...auth(key), 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (res.status !== 200) {
          failure ??= `ingest answered ${res.status}: ${await res.text()}`;
          return;
        }
        for (const e of body) acked.add(e.metrics.seq);
      } catch (err) {
        if (!stop.now) failure ??= `ingest failed: ${String(err)}`; // else the server died under us: never acknowledged
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  return failure;
}

/** Counters of the server's /metrics, by name (labels ignored). */
async function counters(url: string, key: string, ...names: string[]): Promise<number[]> {
  const text = await (await fetch(`${url}/metrics`, { headers: auth(key) })).text();
  return names.map((name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0));
}

async function rawEvents(dataDir: string): Promise<Record<string, unknown>[]> {
  const store = await openLocalStore({ root: join(dataDir, 'lake') });
  try {
    return (await readRawZone(store, TELEMETRY_TOPIC)).map((l) => l.event);
  } finally {
    await store.close();
  }
}

/** The alerts the rule makes of each device's events (in `ts` order), by a fresh engine in process. */
function expectedAlerts(events: Record<string, unknown>[]): Map<string, AlertSpan[]> {
  const byDevice = new Map<string, { ts: number; metrics: Record<string, number> }[]>();
  for (const e of events) {
    const list = byDevice.get(e.device as string) ?? [];
    list.push({ ts: Date.parse(e.ts as string), metrics: e.metrics as Record<string, number> });
    byDevice.set(e.device as string, list);
  }
  const engine = new RuleEngine({ rules: [{ rule: validateRule(RULE), version: 1 }] });
  const expected = new Map<string, AlertSpan[]>();
  for (const device of DEVICES) {
    const spans: AlertSpan[] = [];
    const out: Transition[] = [];
    for (const e of (byDevice.get(device) ?? []).sort((a, b) => a.ts - b.ts)) engine.evaluate({ device, ts: e.ts, receivedAt: e.ts, metrics: e.metrics }, out);
    for (const t of out) {
      if (t.kind === 'raise') spans.push({ openedAt: new Date(t.ts).toISOString(), resolvedAt: null });
      else if (t.kind === 'clear') spans[spans.length - 1]!.resolvedAt = new Date(t.ts).toISOString();
    }
    expected.set(device, spans);
  }
  return expected;
}

/** Every alert of a device, oldest first (the API pages newest first). */
async function actualAlerts(url: string, key: string, device: string): Promise<AlertReply[]> {
  const alerts: AlertReply[] = [];
  let before: string | null = null;
  do {
    const res = await fetch(`${url}/v1/alerts?device=${device}&limit=1000${before ? `&before=${before}` : ''}`, { headers: auth(key) });
    expect(res.status).toBe(200);
    const page = (await res.json()) as { alerts: AlertReply[]; nextBefore: string | null };
    alerts.push(...page.alerts);
    before = page.nextBefore;
  } while (before !== null);
  return alerts.reverse();
}

const spans = (alerts: AlertReply[]): AlertSpan[] => alerts.map((a) => ({ openedAt: a.openedAt, resolvedAt: a.resolvedAt }));

describe('crash safety of the rules role', () => {
  it('no alert change is lost or made twice across kill -9 of the rules role', async () => {
    const tmp = await seededDataDir('rules-crash');
    temps.push(tmp);
    const rulesFile = join(tmp.dir, 'rules.yaml');
    writeFileSync(rulesFile, JSON.stringify([RULE])); // JSON is YAML
    const configFile = join(tmp.dir, 'strata.json');
    writeFileSync(configFile, JSON.stringify({ rules: { presets: [], files: [rulesFile], snapshotMs: 1000 }, lake: { enabled: false } }));

    const first = await start(tmp.dir, configFile);
    const adminKey = readFileSync(join(tmp.dir, 'admin.key'), 'utf8').trim();
    const acked = new Set<number>();
    const stop = { now: false };
    const loadStarted = Date.now();
    let loadEnded: string | undefined;
    const load = loadUntilStopped(first.url, adminKey, Date.now() - 2 * 3600_000, stop, acked).then((failure) => (loadEnded = failure ?? 'stopped'));
    // Killed mid-work, events still pouring in: preferably once an alert write committed after
    // the latest snapshot (the restart must then replay records whose changes are written), else
    // after a while anyway (a consumer far behind may snapshot after every batch).
    let snapshotsSeen = 0;
    let alertsAtSnapshot = 0;
    let readyAt: number | undefined;
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      if (loadEnded !== undefined) throw new Error(`the load ended before the kill: ${loadEnded}`);
      if (acked.size < 3000 || Date.now() - loadStarted < 1500) continue;
      const [snapshots = 0, alertEvents = 0] = await counters(first.url, adminKey, 'strata_rules_snapshots_total', 'strata_rules_alert_events_total');
      if (snapshots === 0) continue;
      readyAt ??= Date.now();
      if (snapshots !== snapshotsSeen) [snapshotsSeen, alertsAtSnapshot] = [snapshots, alertEvents];
      else if (alertEvents > alertsAtSnapshot || Date.now() - readyAt > 10_000) break;
    }
    stop.now = true; // same tick as the kill: requests in flight stay in flight
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect(await load).toBe('stopped');

    const second = await start(tmp.dir, configFile);
    const flushed = await fetch(`${second.url}/v1/admin/flush`, { method: 'POST', headers: auth(adminKey) });
    expect(flushed.status).toBe(200);

    // The raw zone holds every event the stream kept, exactly once, acknowledged ones included.
    const events = await rawEvents(tmp.dir);
    const counts = countBy(events, (e) => String((e.metrics as { seq: number }).seq));
    expect([...acked].filter((s) => !counts.has(String(s)))).toEqual([]);
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);

    const expected = expectedAlerts(events);
    expect([...expected.values()].reduce((n, list) => n + list.length, 0)).toBeGreaterThanOrEqual(50);

    // The restarted rules role catches up in the background: wait until it agrees, or give up.
    let actual = new Map<string, AlertReply[]>();
    const matches = (): boolean => DEVICES.every((d) => JSON.stringify(spans(actual.get(d) ?? [])) === JSON.stringify(expected.get(d)));
    const deadline = Date.now() + 60_000;
    do {
      actual = new Map(await Promise.all(DEVICES.map(async (d) => [d, await actualAlerts(second.url, adminKey, d)] as const)));
      if (matches()) break;
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < deadline);

    for (const device of DEVICES) {
      const alerts = actual.get(device) ?? [];
      expect(spans(alerts), device).toEqual(expected.get(device));
      expect(alerts.filter((a) => a.count !== 1 || a.ruleId !== RULE.id), device).toEqual([]);
      expect(alerts.filter((a) => a.resolvedAt !== null && a.resolvedBy !== 'rule'), device).toEqual([]);
    }
  }, 180_000);
});
