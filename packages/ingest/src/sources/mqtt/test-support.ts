/** Shared by the MQTT tests: a real ingest service on an embedded stream, device credentials, clients. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { DEFAULT_INGEST_LIMITS, type TelemetryEvent } from '@strata/core';
import { openEmbeddedStream, type EmbeddedStream } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import { IngestService } from '../../service.js';
import type { MqttAuthenticate } from './broker.js';
import type { ErrorReport, MqttIngestObserver, MqttRejectReason } from './message.js';

export interface IngestFixture {
  stream: EmbeddedStream;
  ingest: IngestService;
  /** Every event in the stream now, in no particular order across partitions. */
  events(): Promise<TelemetryEvent[]>;
  close(): Promise<void>;
}

/** An IngestService over an embedded stream in a temp dir (topic `telemetry`, 2 partitions). */
export async function ingestFixture(): Promise<IngestFixture> {
  const dir = tempDir('mqtt');
  const stream = await openEmbeddedStream({ dir: dir.dir });
  await stream.ensureTopic('telemetry', { partitions: 2 });
  const ingest = new IngestService({ stream, topic: 'telemetry', limits: DEFAULT_INGEST_LIMITS });
  return {
    stream,
    ingest,
    async events() {
      const out: TelemetryEvent[] = [];
      for (const p of [0, 1]) for (const r of await stream.read('telemetry', p, 0, { maxRecords: 100_000 })) out.push(JSON.parse(r.value.toString()) as TelemetryEvent);
      return out;
    },
    async close() {
      await stream.close();
      dir.remove();
    },
  };
}

/**
 * Test credentials: `key-{device}` is a key bound to that device, `fleet-key` an unbound ingest
 * key; anything else is refused.
 */
export const authenticate: MqttAuthenticate = (_username, password) => {
  const key = password?.toString();
  if (key === 'fleet-key') return {};
  if (key?.startsWith('key-')) return { device: key.slice('key-'.length) };
  return undefined;
};

/** An observer that counts. */
export function countingObserver(): MqttIngestObserver & { accepted_: number; events: number; rejected_: Partial<Record<MqttRejectReason, number>> } {
  const o = {
    accepted_: 0,
    events: 0,
    rejected_: {} as Partial<Record<MqttRejectReason, number>>,
    accepted(events: number) {
      o.accepted_++;
      o.events += events;
    },
    rejected(reason: MqttRejectReason) {
      o.rejected_[reason] = (o.rejected_[reason] ?? 0) + 1;
    },
  };
  return o;
}

/** Connects as `device` with its own key; no automatic reconnect unless asked. */
export function connectDevice(url: string, device: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { username: device, password: `key-${device}`, reconnectPeriod: 0, ...extra });
}

/** Collects the messages a client receives; `next` resolves with the first one on `topic` (matching) not taken yet. */
export function inbox(client: MqttClient): { all: { topic: string; payload: Buffer }[]; next(topic: string, match?: (r: ErrorReport) => boolean): Promise<ErrorReport> } {
  const all: { topic: string; payload: Buffer }[] = [];
  const taken = new Set<number>();
  const waiters: { topic: string; match: (r: ErrorReport) => boolean; resolve: (r: ErrorReport) => void }[] = [];
  const fits = (i: number, w: { topic: string; match: (r: ErrorReport) => boolean }): ErrorReport | undefined => {
    const m = all[i]!;
    if (taken.has(i) || m.topic !== w.topic) return undefined;
    const report = JSON.parse(m.payload.toString()) as ErrorReport;
    return w.match(report) ? report : undefined;
  };
  client.on('message', (topic, payload) => {
    const i = all.push({ topic, payload }) - 1;
    for (let w = 0; w < waiters.length; w++) {
      const report = fits(i, waiters[w]!);
      if (report) {
        taken.add(i);
        waiters.splice(w, 1)[0]!.resolve(report);
        return;
      }
    }
  });
  return {
    all,
    next(topic, match = () => true) {
      return new Promise((resolve) => {
        for (let i = 0; i < all.length; i++) {
          const report = fits(i, { topic, match });
          if (report) {
            taken.add(i);
            return resolve(report);
          }
        }
        waiters.push({ topic, match, resolve });
      });
    },
  };
}
