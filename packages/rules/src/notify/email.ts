import { createTransport, type Transporter } from 'nodemailer';
import type { NotifyChannel, SmtpSettings } from '../types.js';
import { notifyErrors } from './errors.js';
import type { NotifyPayload } from './event.js';

export type EmailChannel = Extract<NotifyChannel, { type: 'email' }>;

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

export function emailSubject(p: NotifyPayload): string {
  const suffix = p.escalation ? ' (escalation)' : p.type === 'resolved' ? ' (resolved)' : '';
  return oneLine(`[${p.severity.toUpperCase()}] ${p.title} — ${p.device}${suffix}`);
}

export function emailText(p: NotifyPayload): string {
  const lines = [
    `${p.escalation ? 'ESCALATION: not acknowledged in time. ' : ''}Alert ${p.type}: ${p.title}`,
    '',
    `Alert:     ${p.alert_id}`,
    `Rule:      ${p.rule_id}@${p.rule_version}`,
    `Device:    ${p.device}`,
    `Severity:  ${p.severity}`,
    `Status:    ${p.status}`,
    ...(p.metric !== undefined ? [`Metric:    ${p.metric} = ${p.value ?? ''}`] : []),
    `Count:     ${p.count}`,
    `Opened at: ${p.opened_at}`,
    `At:        ${p.ts}`,
    ...(p.by !== undefined ? [`By:        ${p.by}`] : []),
    ...(p.note !== undefined ? [`Note:      ${p.note}`] : []),
    '',
    'Details:',
    JSON.stringify(p.details ?? {}, null, 2),
  ];
  return `${lines.join('\n')}\n`;
}

/** Sends email channels' deliveries through one SMTP transport, made on first use. */
export class EmailSender {
  #transport: Transporter | undefined;

  constructor(private readonly smtp: SmtpSettings | undefined) {}

  async send(channel: string, ch: EmailChannel, payload: NotifyPayload): Promise<void> {
    const smtp = this.smtp;
    if (!smtp) throw notifyErrors.STRATA_ERR_NOTIFY_NO_SMTP({ channel });
    this.#transport ??= createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure ?? false,
      ...(smtp.user !== undefined && { auth: { user: smtp.user, pass: smtp.password ?? '' } }),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    await this.#transport.sendMail({ from: smtp.from, to: ch.to, subject: emailSubject(payload), text: emailText(payload) });
  }

  close(): void {
    this.#transport?.close();
  }
}
