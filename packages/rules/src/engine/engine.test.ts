import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { DeviceKind } from '@strata/core';
import { validateRule } from '../definition/validate.js';
import { RuleEngine, type DeviceProfile, type Transition } from './engine.js';
import { severityName } from './compile.js';

/**
 * Declarative fixtures (./fixtures/*.yaml): rules, then steps (an event at a time in seconds, or a
 * heartbeat tick), then the alert changes expected, in order: raise, escalate (a raised rule's
 * severity went up), clear.
 */
interface Step {
  at: number;
  device?: string;
  metrics?: Record<string, number>;
  tags?: Record<string, string>;
  tick?: boolean;
}
interface Case {
  name: string;
  rules: unknown[];
  directory?: Record<string, { kind: DeviceKind; tags: Record<string, string>; lastSeen?: number }>;
  steps: Step[];
  expect: Record<string, unknown>[];
}

const T0 = Date.UTC(2026, 0, 1);
const dir = new URL('./fixtures/', import.meta.url);

/** What a user sees of the transitions: raises, escalations and clears, with the facts that matter. */
function alertChanges(transitions: Transition[]): Record<string, unknown>[] {
  const severity = new Map<string, number>();
  const out: Record<string, unknown>[] = [];
  for (const t of transitions) {
    const key = `${t.rule.id}/${t.device}`;
    const at = (t.ts - T0) / 1000;
    const facts = { device: t.device, ...(t.kind !== 'clear' && { severity: severityName(t.severity) }), ...(t.details?.score !== undefined && t.kind !== 'clear' && { score: t.details.score }), ...(t.details?.partial === true && t.kind !== 'clear' && { partial: true }) };
    if (t.kind === 'raise') {
      severity.set(key, t.severity);
      out.push({ at, raise: t.rule.id, ...facts });
    } else if (t.kind === 'clear') {
      severity.delete(key);
      out.push({ at, clear: t.rule.id, device: t.device });
    } else if (t.severity > (severity.get(key) ?? Infinity)) {
      severity.set(key, t.severity);
      out.push({ at, escalate: t.rule.id, ...facts });
    }
  }
  return out;
}

function run(c: Case): Record<string, unknown>[] {
  const directory = new Map<string, DeviceProfile>(
    Object.entries(c.directory ?? {}).map(([id, d]) => [id, { kind: d.kind, tags: d.tags, ...(d.lastSeen !== undefined && { lastSeen: T0 + d.lastSeen * 1000 }) }]),
  );
  const rules = c.rules.map((r, i) => ({ rule: validateRule(r, { where: `${c.name} #${i}` }), version: 1 }));
  const engine = new RuleEngine({ rules, directory, heartbeatFrom: T0 });
  const out: Transition[] = [];
  for (const s of c.steps) {
    const ts = T0 + s.at * 1000;
    if (s.tick) engine.tick(ts, out);
    else engine.evaluate({ device: s.device!, ts, receivedAt: ts, metrics: s.metrics!, tags: s.tags }, out);
  }
  return alertChanges(out);
}

for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
  const { cases } = parse(readFileSync(new URL(file, dir), 'utf8')) as { cases: Case[] };
  describe(`rule fixtures: ${file}`, () => {
    it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      expect(run(c)).toEqual(c.expect);
    });
  });
}

describe('rule engine state', () => {
  const fever = { id: 'fever', title: 'Fever', condition: { type: 'threshold', metric: 't', op: '>=', value: 38.5, forSeconds: 60 } };

  it('a snapshot restored into a new engine decides as the old one would have', () => {
    const rules = [{ rule: validateRule(fever), version: 1 }];
    const a = new RuleEngine({ rules });
    const out: Transition[] = [];
    a.evaluate({ device: 'p', ts: T0, receivedAt: T0, metrics: { t: 39 } }, out);
    const b = new RuleEngine({ rules });
    b.restore(JSON.parse(JSON.stringify(a.snapshot(() => true))));
    const later = { device: 'p', ts: T0 + 60_000, receivedAt: T0 + 60_000, metrics: { t: 39 } };
    const fromA: Transition[] = [];
    const fromB: Transition[] = [];
    a.evaluate(later, fromA);
    b.evaluate(later, fromB);
    expect(fromB.map((t) => t.kind)).toEqual(['raise']);
    expect(alertChanges(fromB)).toEqual(alertChanges(fromA));
  });

  it.each([
    ['forSeconds, snapshot taken while the condition did not hold', [37], [39], []],
    ['clear.forSeconds, snapshot taken while raised and not clearing', [39, 39], [37], []],
  ] as const)('a JSON round trip keeps timers that are not running: %s', (_name, before, after, expected) => {
    const rule = validateRule({ ...fever, condition: { ...fever.condition, forSeconds: 1, clear: { op: '<', value: 38, forSeconds: 60 } } });
    const a = new RuleEngine({ rules: [{ rule, version: 1 }] });
    before.forEach((t, i) => a.evaluate({ device: 'p', ts: T0 + i * 1000, receivedAt: T0, metrics: { t } }, []));
    const b = new RuleEngine({ rules: [{ rule, version: 1 }] });
    b.restore(JSON.parse(JSON.stringify(a.snapshot(() => true))));
    const out: Transition[] = [];
    b.evaluate({ device: 'p', ts: T0 + 10_000, receivedAt: T0, metrics: { t: after[0] } }, out);
    expect(out.filter((t) => t.kind !== 'update').map((t) => t.kind)).toEqual(expected);
  });

  it('a new rule version restarts timers but keeps a raised rule raised, so it can clear', () => {
    const engine = new RuleEngine({ rules: [{ rule: validateRule({ ...fever, condition: { ...fever.condition, forSeconds: undefined } }), version: 1 }] });
    const out: Transition[] = [];
    engine.evaluate({ device: 'p', ts: T0, receivedAt: T0, metrics: { t: 39 } }, out);
    engine.setRules([{ rule: validateRule({ ...fever, condition: { ...fever.condition, value: 39.5 } }), version: 2 }]);
    engine.evaluate({ device: 'p', ts: T0 + 1000, receivedAt: T0 + 1000, metrics: { t: 39 } }, out);
    expect(out.map((t) => `${t.kind}@v${t.rule.version}`)).toEqual(['raise@v1', 'clear@v2']);
  });

  it('forget drops the devices of a lost partition', () => {
    const engine = new RuleEngine({ rules: [{ rule: validateRule(fever), version: 1 }] });
    for (const device of ['a', 'b']) engine.evaluate({ device, ts: T0, receivedAt: T0, metrics: { t: 39 } }, []);
    engine.forget((d) => d === 'a');
    expect(engine.snapshot(() => true).devices.map(([id]) => id)).toEqual(['b']);
  });
});
