import { sql, type Kysely } from 'kysely';

/** The operational store of issue 3: devices, latest values, rollups, users, keys, audit. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table devices (
      id text primary key,
      kind text not null check (kind in ('machine', 'patient', 'sensor')),
      name text,
      metadata jsonb not null default '{}',
      tags jsonb not null default '{}',
      created timestamptz not null default now(),
      last_seen timestamptz
    ) with (fillfactor = 70);
    -- Every state batch updates last_seen of its devices and the value of their latest rows:
    -- no index on those columns and free room on each page keep these updates HOT (no index
    -- writes). Filtering by last_seen scans the table, fine for the devices of one deployment.
    create index devices_kind_id on devices (kind, id);
    create index devices_tags on devices using gin (tags jsonb_path_ops);

    create table latest_values (
      device text not null references devices (id) on delete cascade,
      metric text not null,
      ts timestamptz not null,
      value double precision not null,
      event_id text not null,
      primary key (device, metric)
    ) with (fillfactor = 70);

    -- Partitions (one per UTC day, rollups_1m_YYYYMMDD) are created by the state consumer as
    -- days arrive and dropped whole by retention: no DELETE scans, no bloat.
    create table rollups_1m (
      device text not null,
      metric text not null,
      minute timestamptz not null,
      count bigint not null,
      min double precision not null,
      max double precision not null,
      sum double precision not null,
      sum_sq double precision not null,
      primary key (device, metric, minute)
    ) partition by range (minute);

    create table users (
      id text primary key,
      username text not null,
      password_hash text not null,
      role text not null check (role in ('admin', 'operator', 'clinician', 'analyst')),
      disabled boolean not null default false,
      created timestamptz not null default now(),
      updated timestamptz not null default now(),
      last_login timestamptz
    );
    create unique index users_username on users (lower(username));

    create table api_keys (
      id text primary key,
      hash bytea not null,
      name text,
      scopes text[] not null,
      device text,
      created timestamptz not null default now(),
      expires timestamptz,
      revoked timestamptz,
      created_by text
    );

    create table refresh_tokens (
      id text primary key,
      user_id text not null references users (id) on delete cascade,
      hash bytea not null,
      family text not null,
      created timestamptz not null default now(),
      expires timestamptz not null,
      used timestamptz,
      revoked timestamptz
    );
    create unique index refresh_tokens_hash on refresh_tokens (hash);
    create index refresh_tokens_family on refresh_tokens (family);
    create index refresh_tokens_user on refresh_tokens (user_id);

    create table audit_log (
      id bigint generated always as identity primary key,
      at timestamptz not null default now(),
      actor text not null,
      action text not null,
      resource text not null,
      outcome text not null check (outcome in ('success', 'denied', 'failure')),
      ip text,
      details jsonb
    );
    create index audit_log_at on audit_log (at);
    create index audit_log_actor_at on audit_log (actor, at);
    create index audit_log_resource_at on audit_log (resource, at);

    create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only';
    end $$;
    create trigger audit_log_no_change before update or delete on audit_log
      for each row execute function audit_log_append_only();
    create trigger audit_log_no_truncate before truncate on audit_log
      for each statement execute function audit_log_append_only();

    create table consumer_offsets (
      consumer text not null,
      topic text not null,
      partition integer not null,
      next_offset bigint not null,
      primary key (consumer, topic, partition)
    );

    create table settings (
      key text primary key,
      value text not null
    );

    -- Processes cache keys and users in memory (no database on the request path); they poll
    -- this one counter to know when to reload.
    insert into settings (key, value) values ('auth_version', '0');
    create function bump_auth_version() returns trigger language plpgsql as $$
    begin
      update settings set value = (value::bigint + 1)::text where key = 'auth_version';
      return null;
    end $$;
    create trigger api_keys_changed after insert or update or delete on api_keys
      for each statement execute function bump_auth_version();
    -- Not on last_login: a sign-in is not a change anyone needs to reload for.
    create trigger users_changed after insert or delete or update of username, password_hash, role, disabled on users
      for each statement execute function bump_auth_version();
  `.execute(db);
}
