/**
 * Test support for the notifier: a real embedded stream and database, a webhook receiver
 * (node:http, verifying signatures) and an SMTP server (smtp-server), all on 127.0.0.1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { uuidv7 } from '@strata/core';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { openEmbeddedStream, type EmbeddedStream } from '@strata/stream';
import { tempDir } from '@strata/testkit';
import type { AlertEvent } from '../types.js';
import { verifyWebhook } from './signature.js';

/** The fake clock's start: a Tuesday noon, UTC. */
export const T0 = Date.parse('2030-01-01T12:00:00Z');
export const iso = (t: number): string => new Date(t).toISOString();

export function alertEvent(over: Partial<AlertEvent> = {}): AlertEvent {
  const id = uuidv7();
  return {
    id,
    type: 'opened',
    alert_id: `alert-${id}`,
    rule_id: 'hr-high',
    rule_version: 1,
    device: 'dev-1',
    device_kind: 'patient',
    severity: 'high',
    status: 'open',
    title: 'Heart rate high',
    metric: 'hr',
    value: 141,
    count: 1,
    ts: iso(T0),
    opened_at: iso(T0),
    details: { threshold: 120 },
    ...over,
  };
}

/** Polls `check` until it holds (or throws after `timeoutMs`): no fixed sleeps in tests. */
export async function waitFor(check: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Env {
  db: TestDb;
  stream: EmbeddedStream;
  /** Appends events (or raw strings: garbage, keyed like the default device) to the alerts topic. */
  publish(...items: (AlertEvent | string)[]): Promise<void>;
  /** Resolves once `group` has committed everything appended so far (its rows are in). */
  caughtUp(group?: string): Promise<void>;
  close(): Promise<void>;
}

export async function openEnv(): Promise<Env> {
  const dir = tempDir('notify');
  const db = await openTestDatabase();
  const stream = await openEmbeddedStream({ dir: dir.dir });
  await stream.ensureTopic('alerts', { partitions: 2 });
  return {
    db,
    stream,
    async publish(...items) {
      await stream.append(
        'alerts',
        items.map((e) => (typeof e === 'string' ? { key: 'dev-1', value: Buffer.from(e) } : { key: e.device, id: e.id, value: Buffer.from(JSON.stringify(e)) })),
      );
    },
    async caughtUp(group = 'notify') {
      await waitFor(async () => {
        const info = await stream.describe('alerts');
        const lag = (await stream.lag('alerts')).find((g) => g.group === group);
        return info.partitions.every((p) => (lag?.partitions.find((q) => q.partition === p.partition)?.committed ?? p.startOffset) >= p.endOffset);
      }, `group ${group} to commit the alerts topic`);
    },
    async close() {
      await stream.close();
      await db.dispose();
      dir.remove();
    },
  };
}

/** Inserts the `alerts` row an escalation looks up. */
export async function insertAlert(db: TestDb, e: AlertEvent): Promise<void> {
  await db.kysely
    .insertInto('alerts')
    .values({
      id: e.alert_id,
      rule_id: e.rule_id,
      rule_version: e.rule_version,
      device_id: e.device,
      device_kind: e.device_kind,
      severity: e.severity,
      status: e.status,
      title: e.title,
      metric: e.metric ?? null,
      value: e.value ?? null,
      opened_at: new Date(e.opened_at),
      last_at: new Date(e.ts),
    })
    .execute();
}

export interface WebhookBody {
  delivery: string;
  attempt: number;
  escalation: boolean;
  alert: AlertEvent;
}

export interface Receiver {
  url: string;
  /** Requests with a valid signature, in arrival order, with the status answered. */
  received: { body: WebhookBody; status: number; deliveryHeader: string | undefined }[];
  /** Bodies answered 2xx. */
  delivered(): WebhookBody[];
  badSignatures: number;
  close(): Promise<void>;
}

/** A webhook receiver; `answer(n)` gives the status for the n-th signed request (1-based), or `hang`. */
export async function startReceiver(secret: string, answer: (n: number) => number | 'hang' = () => 200): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    received: [],
    delivered: () => r.received.filter((x) => x.status < 300).map((x) => x.body),
    badSignatures: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = req.headers['x-strata-signature'];
      const ts = Number(req.headers['x-strata-timestamp']);
      if (typeof header !== 'string' || !verifyWebhook(secret, header, ts, body) || req.headers['content-type'] !== 'application/json') {
        r.badSignatures++;
        res.writeHead(401).end();
        return;
      }
      const status = answer(r.received.length + 1);
      const deliveryHeader = req.headers['x-strata-delivery'];
      r.received.push({ body: JSON.parse(body) as WebhookBody, status: status === 'hang' ? 0 : status, deliveryHeader: typeof deliveryHeader === 'string' ? deliveryHeader : undefined });
      if (status !== 'hang') res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}

export interface MailMessage {
  from: string | undefined;
  to: string[];
  raw: string;
}

export interface MailServer {
  port: number;
  messages: MailMessage[];
  close(): Promise<void>;
}

/** A plain (no TLS, no auth) SMTP server that keeps what it receives. */
export async function startMailServer(): Promise<MailServer> {
  const messages: MailMessage[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 1_000,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        messages.push({ from: from ? from.address : undefined, to: session.envelope.rcptTo.map((a) => a.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Decodes RFC 2047 words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`) as nodemailer writes them. */
function decodeWords(s: string): string {
  return s
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?utf-8\?([qb])\?([^?]*)\?=/gi, (_m, enc: string, text: string) => {
      if (enc.toLowerCase() === 'b') return Buffer.from(text, 'base64').toString('utf8');
      return qpDecode(text.replace(/_/g, ' '));
    });
}

function qpDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const hex = s[i] === '=' ? /^[0-9a-f]{2}$/i.exec(s.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
    } else bytes.push(...Buffer.from(s[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** A raw message's decoded header `name` and text body. */
export function parseMail(raw: string): { header(name: string): string | undefined; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n(?=[ \t])/g, '');
  const lines = head.split('\r\n');
  const header = (name: string): string | undefined => {
    const line = lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    return line === undefined ? undefined : decodeWords(line.slice(name.length + 1).trim());
  };
  let text = raw.slice(split + 4);
  if (/quoted-printable/i.test(header('content-transfer-encoding') ?? '')) text = qpDecode(text.replace(/=\r\n/g, ''));
  return { header, text };
}
