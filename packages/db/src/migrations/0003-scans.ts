import { sql, type Kysely } from 'kysely';

/** Cloud posture scans (issue 10): scan records and the current finding per (account, check, resource). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- One row per scan asked through the API. Never a credential: the request keeps regions,
    -- services, concurrency and the auth mode only.
    create table scans (
      id text primary key,
      status text not null check (status in ('QUEUED', 'RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED')),
      request jsonb not null,
      requested_by text not null,
      -- The process running it (host/pid): a restart on that host fails what a dead process left running.
      owner text not null,
      created timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      progress_done integer not null default 0,
      progress_total integer not null default 0,
      account_id text,
      counts jsonb not null default '{}',
      errors jsonb not null default '[]',
      api_calls integer not null default 0
    );
    create index scans_created on scans (created desc);

    -- The latest word on each (account, check, resource): uid = hash of the three. A later scan
    -- that covers the same scope (service@region) updates it, or closes it when the resource is gone.
    create table findings (
      uid text primary key,
      account_id text not null,
      check_id text not null,
      scope text not null,
      dimension text not null check (dimension in ('security', 'cost', 'architecture', 'performance')),
      severity text not null check (severity in ('informational', 'low', 'medium', 'high', 'critical')),
      resource_uid text not null,
      resource_type text not null,
      resource_name text not null,
      region text not null,
      status text not null check (status in ('PASS', 'WARNING', 'FAIL')),
      state text not null check (state in ('active', 'closed')),
      detail text not null,
      first_seen timestamptz not null,
      last_seen timestamptz not null,
      closed_at timestamptz,
      scan_id text not null,
      event jsonb not null
    );
    create index findings_account_scope on findings (account_id, scope);
    create index findings_filter on findings (state, status, severity);
    create index findings_resource on findings (resource_uid);
  `.execute(db);
}
