import { sql, type Kysely } from 'kysely';

/** Rules and alerts (issue 5): rule versions, alerts, their outbox, rule-state snapshots, notifications. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Rules made through the API; rules from config files and presets live in those files. Every
    -- change is a new version, kept, so an alert can say which version fired.
    create table rules (
      id text primary key,
      version integer not null,
      definition jsonb not null,
      deleted boolean not null default false,
      updated timestamptz not null default now(),
      updated_by text not null
    );
    create table rule_versions (
      rule_id text not null,
      version integer not null,
      definition jsonb not null,
      origin text not null check (origin in ('api', 'file', 'preset')),
      created timestamptz not null default now(),
      created_by text not null,
      primary key (rule_id, version)
    );

    create table alerts (
      id text primary key,
      rule_id text not null,
      rule_version integer not null,
      device_id text not null,
      -- As the rules engine knew it: who may see the alert before the devices table has the device.
      device_kind text not null check (device_kind in ('machine', 'patient', 'sensor')),
      severity text not null check (severity in ('info', 'low', 'medium', 'high', 'critical')),
      status text not null check (status in ('open', 'acknowledged', 'resolved')),
      title text not null,
      metric text,
      value double precision,
      details jsonb not null default '{}',
      count integer not null default 1,
      opened_at timestamptz not null,
      last_at timestamptz not null,
      acknowledged_at timestamptz,
      acknowledged_by text,
      ack_note text,
      resolved_at timestamptz,
      resolved_by text,
      resolve_note text,
      updated timestamptz not null default now()
    );
    -- The dedupe rule: at most one unresolved alert per rule and device.
    create unique index alerts_unresolved on alerts (rule_id, device_id) where status <> 'resolved';
    create index alerts_opened on alerts (opened_at desc, id desc);
    create index alerts_device_opened on alerts (device_id, opened_at desc);
    create index alerts_status_opened on alerts (status, opened_at desc) where status <> 'resolved';

    -- Alert events written in the same transaction as the alert change, then appended to the
    -- alerts topic and deleted: a crash in between publishes them again (same ids: the topic
    -- drops the repeat).
    create table alert_outbox (
      seq bigint generated always as identity primary key,
      event jsonb not null
    );

    -- The rules consumer's state per stream partition as of next_offset; replaying the stream
    -- from there rebuilds the rest (consumer_offsets holds how far alerts were written).
    create table rule_snapshots (
      consumer text not null,
      topic text not null,
      partition integer not null,
      next_offset bigint not null,
      state bytea not null,
      taken timestamptz not null default now(),
      primary key (consumer, topic, partition)
    );

    -- One row per alert event and channel: pending → delivered, or dead after the last attempt,
    -- or cancelled (an escalation whose alert was acknowledged or resolved in time).
    create table notifications (
      id text primary key,
      event_id text not null,
      alert_id text not null,
      channel text not null,
      status text not null check (status in ('pending', 'delivered', 'dead', 'cancelled')),
      attempts integer not null default 0,
      next_attempt timestamptz not null,
      last_error text,
      payload jsonb not null,
      created timestamptz not null default now(),
      updated timestamptz not null default now()
    );
    create unique index notifications_event_channel on notifications (event_id, channel);
    create index notifications_due on notifications (next_attempt) where status = 'pending';
    create index notifications_dead on notifications (updated desc) where status = 'dead';
  `.execute(db);
}
