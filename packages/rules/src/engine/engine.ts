/**
 * The rule engine: events in, alert transitions out, all in memory and deterministic. Given the
 * same rules, state and events (in stream order) it yields the same transitions, which is what
 * lets the rules consumer rebuild its state after a crash by replaying the stream from a snapshot
 * (../consumer.ts) instead of writing state per event.
 *
 * Per device it keeps a profile (kind and tags: from the device directory when it knows the
 * device, else from the events' own tags, `kind` tag included), the rules in scope indexed by
 * the metric they read, and one small state per rule: whether the condition is raised, when it
 * started to hold (`forSeconds`), recent hits (`repeat`), a window of readings (`rate`), the
 * latest NEWS2 readings, and when the device was last heard from (`missing`). A `prediction`
 * condition is a threshold on the scoring role's `failure_probability`, its alert details naming
 * the model and top features from the prediction's `ml.` tags.
 *
 * Times: conditions run on event time (`ts`), so a replay decides as the first pass did; the
 * heartbeat runs on a clock against receive time (`tick(now)`). An event older than the last
 * one seen for a rule's window still counts, it just cannot move timers backwards.
 */
import { DEVICE_KINDS, PREDICTION, type DeviceKind, type TelemetryEvent } from '@strata/core';
import { news2, NEWS2_PARAMETERS, NEWS2_SEVERITY, news2LevelRank, type News2Input, type News2Parameter } from '../news2/news2.js';
import { severityRank } from '../types.js';
import { compileRule, inScope, type CompiledCondition, type CompiledRule, type VersionedRule } from './compile.js';

export interface EngineEvent {
  device: string;
  /** Event time, Unix ms. */
  ts: number;
  /** Receive time, Unix ms: what the heartbeat measures silence against. */
  receivedAt: number;
  metrics: Readonly<Record<string, number>>;
  tags?: Readonly<Record<string, string>> | undefined;
}

/** A telemetry stream record as the engine takes it (`replay`: re-published history), or undefined when it is not one. */
export function decodeEvent(value: Buffer): { event: EngineEvent; replay: boolean } | undefined {
  let e: TelemetryEvent & { replay?: boolean };
  try {
    e = JSON.parse(value.toString('utf8')) as TelemetryEvent & { replay?: boolean };
  } catch {
    return undefined;
  }
  if (typeof e !== 'object' || e === null || typeof e.device !== 'string' || typeof e.metrics !== 'object' || e.metrics === null) return undefined;
  const ts = Date.parse(e.ts);
  const receivedAt = Date.parse(e.received_at);
  if (!Number.isFinite(ts) || !Number.isFinite(receivedAt)) return undefined;
  return { event: { device: e.device, ts, receivedAt, metrics: e.metrics, tags: e.tags }, replay: e.replay === true };
}

/** What the directory knows of a device (the operational store's devices table). */
export interface DeviceProfile {
  kind: DeviceKind;
  tags: Readonly<Record<string, string>>;
  /** Last event received, Unix ms, if any: the heartbeat's start for devices not heard from since. */
  lastSeen?: number;
}

/**
 * A change the engine asks for: `raise` (the condition started to hold: open an alert, or count
 * into the unresolved one), `update` (it still holds: new last value, maybe higher severity),
 * `clear` (the clear condition held and the rule resolves automatically).
 */
export interface Transition {
  kind: 'raise' | 'update' | 'clear';
  rule: CompiledRule;
  device: string;
  deviceKind: DeviceKind;
  /** Severity rank (SEVERITIES index). */
  severity: number;
  ts: number;
  metric: string | undefined;
  value: number | undefined;
  details: Record<string, unknown> | undefined;
}

interface RuleState {
  version: number;
  active: boolean;
  severity: number;
  /** When the condition started to hold (null: it does not). Null, not NaN: snapshots are JSON. */
  since: number | null;
  /** When the clear condition started to hold while raised (null: it does not). */
  clearSince: number | null;
  hits: number[] | undefined;
  /** Rate window: readings' times and values, oldest first. */
  times: number[] | undefined;
  values: number[] | undefined;
  /** NEWS2: latest reading per parameter as [value, ts]. */
  readings: Partial<Record<News2Parameter, [number, number]>> | undefined;
  /** Missing: last receive time that counted as a sign of life. */
  lastSeen: number;
}

interface Binding {
  rule: CompiledRule;
  deviceKind: DeviceKind;
  condition: CompiledCondition;
  severity: number;
  state: RuleState;
}

interface DeviceState {
  kind: DeviceKind;
  tags: Record<string, string>;
  /** Kind and tags come from the directory (which wins over event tags). */
  fromDirectory: boolean;
  states: Map<string, RuleState>;
  /** Rules in scope by metric read; undefined: to be worked out again (profile or rules changed). */
  byMetric: Map<string, Binding[]> | undefined;
  /** Rules that look at every event (missing data without a metric). */
  onEvery: Binding[];
  /** Missing-data rules, checked by `tick`. */
  heartbeats: Binding[];
  /** NEWS2 rules, scored once per event that carries any of their parameters. */
  news2: Binding[];
}

/** The serialised state of some devices, as `snapshot()` gives and `restore()` takes. */
export interface EngineSnapshot {
  v: 1;
  devices: [string, { kind: DeviceKind; tags: Record<string, string>; fromDirectory: boolean; states: [string, RuleState][] }][];
}

const isKind = (k: unknown): k is DeviceKind => typeof k === 'string' && (DEVICE_KINDS as readonly string[]).includes(k);

function freshState(version: number, lastSeen: number): RuleState {
  return { version, active: false, severity: 0, since: null, clearSince: null, hits: undefined, times: undefined, values: undefined, readings: undefined, lastSeen };
}

export type Directory = ReadonlyMap<string, DeviceProfile>;

export interface RuleEngineOptions {
  rules?: readonly VersionedRule[];
  /** The devices known to the store; others take their profile from their events' tags. */
  directory?: Directory;
  /** Heartbeat silence is not counted before this time (the engine's start): downtime is not silence. Default 0. */
  heartbeatFrom?: number;
}

export class RuleEngine {
  private rules: CompiledRule[] = [];
  private readonly devices = new Map<string, DeviceState>();
  private directory: Directory;
  private readonly heartbeatFrom: number;
  /** Devices with missing-data rules, for `tick`. */
  private readonly watched = new Set<string>();

  constructor(opts: RuleEngineOptions = {}) {
    this.directory = opts.directory ?? new Map();
    this.heartbeatFrom = opts.heartbeatFrom ?? 0;
    this.setRules(opts.rules ?? []);
  }

  /** Rules in force from now on. A rule whose version changed keeps whether it is raised (so it can still clear) but restarts its timers and windows. */
  setRules(rules: readonly VersionedRule[]): void {
    this.rules = rules.map(compileRule).filter((r) => r.enabled || r.overrides.size > 0);
    this.invalidate();
  }

  /** The directory changed: profiles are looked up again on each device's next event. */
  setDirectory(directory: Directory): void {
    this.directory = directory;
    for (const d of this.devices.values()) d.fromDirectory = false;
    this.invalidate();
  }

  /**
   * Bindings are worked out again on each device's next event; with heartbeat rules, at once for
   * every device, those only the directory knows included: a silent device sends no event.
   */
  private invalidate(): void {
    for (const d of this.devices.values()) d.byMetric = undefined;
    if (!this.rules.some((r) => r.condition.type === 'missing' || [...r.overrides.values()].some((o) => o.condition.type === 'missing'))) {
      this.watched.clear();
      return;
    }
    for (const id of this.directory.keys()) this.deviceFor(id, undefined);
    for (const [id, d] of this.devices) this.bind(id, d);
  }

  /** Evaluates one event, pushing the transitions it causes onto `out`. */
  evaluate(e: EngineEvent, out: Transition[]): void {
    const device = this.deviceFor(e.device, e.tags);
    const byMetric = device.byMetric ?? this.bind(e.device, device);
    for (const b of device.onEvery) this.observeLife(b, e, out);
    if (device.news2.length > 0 && carriesNews2(e.metrics)) for (const b of device.news2) this.observeNews2(b, e, out);
    for (const metric in e.metrics) {
      const bindings = byMetric.get(metric);
      if (bindings === undefined) continue;
      const value = e.metrics[metric]!;
      for (const b of bindings) {
        switch (b.condition.type) {
          case 'threshold':
            this.step(b, e.device, e.ts, metric, value, b.condition.severityOf(value, b.severity), undefined, out);
            break;
          case 'rate':
            this.observeRate(b, e.device, e.ts, metric, value, out);
            break;
          case 'prediction':
            this.step(b, e.device, e.ts, metric, value, b.severity, predictionDetails(e.tags), out);
            break;
          default: // missing data, watching this metric
            this.observeLife(b, e, out);
        }
      }
    }
  }

  /** Heartbeat: raises missing-data rules for devices silent longer than their limit at `now` (Unix ms). */
  tick(now: number, out: Transition[]): void {
    for (const id of this.watched) {
      const device = this.devices.get(id)!;
      for (const b of device.heartbeats) {
        const s = b.state;
        const since = Math.max(s.lastSeen, this.heartbeatFrom);
        if (s.active || now - since < b.condition.afterMs) continue;
        s.active = true;
        s.severity = b.severity;
        out.push({ kind: 'raise', rule: b.rule, device: id, deviceKind: b.deviceKind, severity: b.severity, ts: now, metric: b.condition.metric, value: Math.floor((now - s.lastSeen) / 1000), details: { silentSeconds: Math.floor((now - s.lastSeen) / 1000), lastSeen: s.lastSeen > 0 ? new Date(s.lastSeen).toISOString() : null } });
      }
    }
  }

  /**
   * Marks a rule raised for a device without a transition: after a restart, for heartbeat alerts
   * opened by a clock tick the snapshot predates (the store knows they are open).
   */
  markRaised(ruleId: string, deviceId: string, severity: number): void {
    const device = this.devices.get(deviceId);
    if (!device) return;
    if (!device.byMetric) this.bind(deviceId, device);
    const b = device.heartbeats.find((h) => h.rule.id === ruleId);
    if (b) Object.assign(b.state, { active: true, severity });
  }

  /** Devices the engine holds state for. */
  get size(): number {
    return this.devices.size;
  }

  /** The state of the devices `include` accepts (the consumer snapshots one stream partition at a time). */
  snapshot(include: (device: string) => boolean): EngineSnapshot {
    const devices: EngineSnapshot['devices'] = [];
    for (const [id, d] of this.devices) {
      if (include(id)) devices.push([id, { kind: d.kind, tags: d.tags, fromDirectory: d.fromDirectory, states: [...d.states] }]);
    }
    return { v: 1, devices };
  }

  /** Drops the state of the devices `include` accepts (a stream partition this member no longer owns). */
  forget(include: (device: string) => boolean): void {
    for (const id of [...this.devices.keys()]) {
      if (!include(id)) continue;
      this.devices.delete(id);
      this.watched.delete(id);
    }
  }

  /** Takes back a snapshot's devices (replacing what is held for them). States of rule versions no longer in force start afresh. */
  restore(snapshot: EngineSnapshot): void {
    for (const [id, d] of snapshot.devices) {
      this.devices.set(id, { kind: d.kind, tags: d.tags, fromDirectory: false, states: new Map(d.states), byMetric: undefined, onEvery: [], heartbeats: [], news2: [] });
    }
    this.invalidate();
  }

  private deviceFor(id: string, tags: Readonly<Record<string, string>> | undefined): DeviceState {
    let device = this.devices.get(id);
    if (device === undefined) {
      const known = this.directory.get(id);
      device = {
        kind: known?.kind ?? (isKind(tags?.kind) ? tags.kind : 'sensor'),
        tags: { ...known?.tags, ...tags },
        fromDirectory: known !== undefined,
        states: new Map(),
        byMetric: undefined,
        onEvery: [],
        heartbeats: [],
        news2: [],
      };
      this.devices.set(id, device);
      return device;
    }
    if (!device.fromDirectory && device.byMetric === undefined) {
      const known = this.directory.get(id);
      if (known) Object.assign(device, { kind: known.kind, tags: { ...device.tags, ...known.tags }, fromDirectory: true });
    }
    if (tags !== undefined) {
      for (const k in tags) {
        if (device.tags[k] === tags[k]) continue;
        device.tags[k] = tags[k]!;
        if (!device.fromDirectory && k === 'kind' && isKind(tags[k])) device.kind = tags[k];
        device.byMetric = undefined;
      }
    }
    return device;
  }

  /** Works out the rules in scope of a device and their states. */
  private bind(id: string, device: DeviceState): Map<string, Binding[]> {
    const byMetric = new Map<string, Binding[]>();
    const onEvery: Binding[] = [];
    const heartbeats: Binding[] = [];
    const news2Rules: Binding[] = [];
    const states = new Map<string, RuleState>();
    const lastSeen = this.directory.get(id)?.lastSeen ?? 0;
    for (const rule of this.rules) {
      if (!inScope(rule, id, device.kind, device.tags)) continue;
      const o = rule.overrides.get(id);
      if (!(o?.enabled ?? rule.enabled)) continue;
      const condition = o?.condition ?? rule.condition;
      let state = device.states.get(rule.id);
      if (state === undefined) state = freshState(rule.version, lastSeen);
      else if (state.version !== rule.version) state = { ...freshState(rule.version, state.lastSeen), active: state.active, severity: state.severity };
      states.set(rule.id, state);
      const binding: Binding = { rule, deviceKind: device.kind, condition, severity: o?.severity ?? rule.severity, state };
      const add = (metric: string): void => {
        const list = byMetric.get(metric);
        if (list) list.push(binding);
        else byMetric.set(metric, [binding]);
      };
      if (condition.type === 'news2') news2Rules.push(binding);
      else if (condition.type === 'missing') {
        heartbeats.push(binding);
        if (condition.metric === undefined) onEvery.push(binding);
        else add(condition.metric);
      } else add(condition.metric!);
    }
    device.states = states;
    device.byMetric = byMetric;
    device.onEvery = onEvery;
    device.heartbeats = heartbeats;
    device.news2 = news2Rules;
    if (heartbeats.length > 0) this.watched.add(id);
    else this.watched.delete(id);
    return byMetric;
  }

  /** The shared life of a condition: for/repeat before raising, hysteresis and clear-for before clearing. */
  private step(b: Binding, device: string, ts: number, metric: string | undefined, value: number, severity: number, details: Record<string, unknown> | undefined, out: Transition[], holds = b.condition.holds(value), clears = b.condition.clears(value)): void {
    const s = b.state;
    const c = b.condition;
    if (!s.active) {
      if (!holds) {
        s.since = null;
        return;
      }
      if (c.forMs > 0) {
        if (s.since === null || ts < s.since) s.since = ts;
        if (ts - s.since < c.forMs) return;
      } else if (c.repeat) {
        const hits = (s.hits ??= []);
        hits.push(ts);
        const from = ts - c.repeat.withinMs;
        while (hits.length > 0 && hits[0]! < from) hits.shift();
        if (hits.length < c.repeat.count) return;
        s.hits = undefined;
      }
      s.active = true;
      s.severity = severity;
      s.clearSince = null;
      out.push({ kind: 'raise', rule: b.rule, device, deviceKind: b.deviceKind, severity, ts, metric, value, details });
      return;
    }
    if (holds) {
      s.clearSince = null;
      if (severity > s.severity) s.severity = severity;
      out.push({ kind: 'update', rule: b.rule, device, deviceKind: b.deviceKind, severity: s.severity, ts, metric, value, details });
      return;
    }
    if (!clears) {
      s.clearSince = null;
      return;
    }
    if (c.clearForMs > 0) {
      if (s.clearSince === null || ts < s.clearSince) s.clearSince = ts;
      if (ts - s.clearSince < c.clearForMs) return;
    }
    s.active = false;
    s.since = null;
    s.clearSince = null;
    if (b.rule.autoResolve) out.push({ kind: 'clear', rule: b.rule, device, deviceKind: b.deviceKind, severity: s.severity, ts, metric, value, details });
  }

  private observeRate(b: Binding, device: string, ts: number, metric: string, value: number, out: Transition[]): void {
    const s = b.state;
    const times = (s.times ??= []);
    const values = (s.values ??= []);
    if (times.length > 0 && ts < times[times.length - 1]!) return; // out of order: the window only moves forward
    times.push(ts);
    values.push(value);
    const from = ts - b.condition.windowMs;
    let drop = 0;
    while (drop < times.length - 1 && times[drop]! < from) drop++;
    if (drop > 0) {
      times.splice(0, drop);
      values.splice(0, drop);
    }
    if (times.length < 2) return;
    const change = value - values[0]!;
    this.step(b, device, ts, metric, change, b.condition.severityOf(change, b.severity), { change, windowSeconds: (ts - times[0]!) / 1000, from: values[0], to: value }, out);
  }

  private observeLife(b: Binding, e: EngineEvent, out: Transition[]): void {
    const s = b.state;
    if (e.receivedAt > s.lastSeen) s.lastSeen = e.receivedAt;
    if (!s.active) return;
    s.active = false;
    if (b.rule.autoResolve) out.push({ kind: 'clear', rule: b.rule, device: e.device, deviceKind: b.deviceKind, severity: s.severity, ts: e.receivedAt, metric: b.condition.metric, value: undefined, details: undefined });
  }

  /** Keeps the event's NEWS2 readings (the newest by event time wins) and scores what is recent enough. */
  private observeNews2(b: Binding, e: EngineEvent, out: Transition[]): void {
    const s = b.state;
    const readings = (s.readings ??= {});
    for (const p of NEWS2_PARAMETERS) {
      const v = e.metrics[p];
      if (v === undefined) continue;
      const held = readings[p];
      if (held === undefined || e.ts >= held[1]) readings[p] = [v, e.ts];
    }
    const input: News2Input = {};
    const oldest = e.ts - b.condition.maxAgeMs;
    for (const p of NEWS2_PARAMETERS) {
      const r = readings[p];
      if (r !== undefined && r[1] >= oldest) input[p] = r[0];
    }
    const result = news2(input, { spo2Scale: b.condition.spo2Scale });
    const holds = news2LevelRank(result.level) >= b.condition.minLevelRank;
    const severity = holds ? severityRank(NEWS2_SEVERITY[result.level]!) : b.severity;
    const details = { score: result.score, level: result.level, partial: result.partial, missing: result.missing, subscores: result.subscores };
    this.step(b, e.device, e.ts, 'news2', result.score, severity, details, out, holds, !holds);
  }
}

/** What a prediction alert tells of the model that fired it (the scoring role's event tags, docs/ml.md). */
function predictionDetails(tags: Readonly<Record<string, string>> | undefined): Record<string, unknown> | undefined {
  const model = tags?.[PREDICTION.modelTag];
  const top = tags?.[PREDICTION.topTag];
  if (model === undefined && top === undefined) return undefined;
  return { ...(model !== undefined && { model }), ...(top !== undefined && { topFeatures: top.split(',').filter(Boolean) }) };
}

function carriesNews2(metrics: Readonly<Record<string, number>>): boolean {
  for (const p of NEWS2_PARAMETERS) if (metrics[p] !== undefined) return true;
  return false;
}
