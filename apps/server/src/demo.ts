import type { IngestService, ParsedEvent } from '@strata/ingest';
import type { Logger } from 'pino';

export interface DemoOptions {
  ingest: IngestService;
  machines: number;
  patients: number;
  intervalMs: number;
  logger: Logger;
  random?: () => number;
}

interface Signal {
  mean: number;
  spread: number;
  value: number;
  decimals: number;
}

interface DemoDevice {
  id: string;
  kind: 'machine' | 'patient';
  signals: Record<string, Signal>;
  /** Ticks left in an anomaly (a sickle-cell crisis, a bearing going bad); 0 when normal. */
  anomaly: number;
  /** Machines: minutes the tool has worked, and the AI4I quality grade. */
  toolWear: number;
  type?: (typeof MACHINE_TYPES)[number];
}

/**
 * Machines also report what an AI4I 2020 model reads (`AI4I_ONLINE` in @strata/ml: air and
 * process temperature in K, rpm, torque, tool wear; quality `type` as a tag), so a model from
 * `strata ml bootstrap` scores them as they run.
 */
const MACHINE: Record<string, [mean: number, spread: number, decimals: number]> = {
  temperature: [68, 1.5, 1],
  vibration: [2.4, 0.2, 2],
  rpm: [1500, 20, 0],
  air_temperature_k: [300, 0.2, 1],
  process_temperature_k: [310, 0.2, 1],
  torque_nm: [52, 1.5, 1],
};
/** Minutes of tool wear added per tick, and where the tool is changed (wear back to 0). */
const TOOL_WEAR_PER_TICK = 0.5;
const TOOL_CHANGE_AT = 200;
const MACHINE_TYPES = ['L', 'M', 'H'] as const;
const PATIENT: Record<string, [mean: number, spread: number, decimals: number]> = {
  heart_rate: [78, 3, 0],
  spo2: [97, 0.6, 0],
  temperature: [36.8, 0.15, 1],
  respiration_rate: [16, 1, 0],
};
/**
 * How an anomaly shifts each signal: fever, desaturation, tachycardia; overheating, vibration, an
 * rpm drop with the process running cooler and harder — AI4I's heat-dissipation failure
 * (process − air < 8.6 K below 1,380 rpm), which a bootstrapped model predicts.
 */
const ANOMALY_SHIFT: Record<string, number> = {
  heart_rate: 45, spo2: -8, respiration_rate: 9, vibration: 4.5, rpm: -350, process_temperature_k: -2.5, torque_nm: 8,
};

function makeDevice(id: string, kind: DemoDevice['kind'], index: number): DemoDevice {
  const table = kind === 'machine' ? MACHINE : PATIENT;
  const signals: Record<string, Signal> = {};
  for (const [name, [mean, spread, decimals]] of Object.entries(table)) signals[name] = { mean, spread, value: mean, decimals };
  // Machines start at different points of their tool's life.
  return { id, kind, signals, anomaly: 0, toolWear: (index * 67) % TOOL_CHANGE_AT, ...(kind === 'machine' && { type: MACHINE_TYPES[index % 3] }) };
}

/**
 * Demo devices for `npm start`: machines (temperature, vibration, rpm and AI4I's inputs) and patients (heart rate,
 * SpO2, temperature, respiration rate) as mean-reverting random walks, with a rare anomaly
 * episode so alerts and dashboards have something to show. They go through the same ingest
 * service as HTTP clients (source `demo`).
 */
export function startDemo(opts: DemoOptions): { stop(): Promise<void> } {
  const random = opts.random ?? Math.random;
  const pad = (n: number) => String(n).padStart(3, '0');
  const devices = [
    ...Array.from({ length: opts.machines }, (_, i) => makeDevice(`machine-${pad(i + 1)}`, 'machine', i)),
    ...Array.from({ length: opts.patients }, (_, i) => makeDevice(`patient-${pad(i + 1)}`, 'patient', i)),
  ];
  let inFlight: Promise<unknown> = Promise.resolve();

  const tick = (): void => {
    const nowMs = Date.now();
    const events = devices.map((d): ParsedEvent => {
      if (d.anomaly > 0) d.anomaly--;
      else if (random() < 0.002) d.anomaly = 60 + Math.floor(random() * 120);
      const metrics: Record<string, number> = {};
      for (const [name, s] of Object.entries(d.signals)) {
        const shift = d.anomaly > 0 ? (ANOMALY_SHIFT[name] ?? (name === 'temperature' ? (d.kind === 'patient' ? 2.4 : 25) : 0)) : 0;
        const target = s.mean + shift;
        s.value += (target - s.value) * 0.2 + (random() * 2 - 1) * s.spread;
        const factor = 10 ** s.decimals;
        metrics[name] = Math.round(s.value * factor) / factor;
      }
      if (d.kind === 'patient') {
        metrics.spo2 = Math.min(100, metrics.spo2!);
        return { device: d.id, tsMs: nowMs, metrics, tags: { kind: d.kind } };
      }
      d.toolWear = d.toolWear + TOOL_WEAR_PER_TICK >= TOOL_CHANGE_AT ? 0 : d.toolWear + TOOL_WEAR_PER_TICK;
      metrics.tool_wear_min = d.toolWear;
      return { device: d.id, tsMs: nowMs, metrics, tags: { kind: d.kind, type: d.type! } };
    });
    inFlight = opts.ingest.ingestEvents(events, 'demo', nowMs).catch((err: Error) => {
      opts.logger.warn({ err: err.message }, 'demo devices could not send');
    });
  };

  const timer = devices.length > 0 ? setInterval(tick, opts.intervalMs) : undefined;
  opts.logger.info({ machines: opts.machines, patients: opts.patients, intervalMs: opts.intervalMs }, 'demo devices started');
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
  };
}
