/**
 * Every rule in force, from three origins: presets (by name), config files (YAML or JSON: one
 * rule, a list, or `{ rules: [...] }`; a directory means its *.yaml/*.yml/*.json files) and the
 * API (the `rules` table). A rule id belongs to one origin; file and preset rules are read-only
 * through the API.
 *
 * Versions: every definition a rule has had is kept in `rule_versions`. An API change writes
 * version n+1; a file or preset rule whose text changed gets a new version when the registry
 * opens. Alerts record the version that fired, so an old alert still explains itself.
 *
 * Other processes learn of API changes by polling (`refresh()`, cheap: one aggregate query).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { sql } from 'kysely';
import { parse as parseYaml } from 'yaml';
import { StrataError, type Logger, silentLogger } from '@strata/core';
import type { Db } from '@strata/db';
import { rulesErrors } from '../errors.js';
import type { RuleNotifySettings } from '../types.js';
import { PRESETS } from './presets.js';
import type { Rule } from './schema.js';
import { validateRule } from './validate.js';
import type { VersionedRule } from '../engine/compile.js';

export type RuleOrigin = 'api' | 'file' | 'preset';

export interface RuleView {
  id: string;
  version: number;
  origin: RuleOrigin;
  rule: Rule;
  updated: string;
  updatedBy: string;
}

export interface RuleRegistryOptions {
  db: Db;
  /** Files or directories of rules. */
  files?: readonly string[];
  /** Preset names (see PRESETS). */
  presets?: readonly string[];
  /** Notification channels that exist; a rule naming another is refused. */
  channels?: ReadonlySet<string>;
  logger?: Logger;
}

/** Stable JSON (sorted keys): a file rule gets a new version only when its meaning changed. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function ruleFiles(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    throw rulesErrors.STRATA_ERR_RULES_FILE({ file: path, reason: 'not found' }, err);
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => ['.yaml', '.yml', '.json'].includes(extname(f)))
    .sort()
    .map((f) => join(path, f));
}

/** The rules of one file, each validated; errors name the file and the rule's position. */
export function readRuleFile(file: string, channels?: ReadonlySet<string>): Rule[] {
  let doc: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    doc = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw rulesErrors.STRATA_ERR_RULES_FILE({ file, reason: err instanceof Error ? err.message : String(err) }, err);
  }
  const list = Array.isArray(doc) ? doc : doc !== null && typeof doc === 'object' && 'rules' in doc ? (doc as { rules: unknown }).rules : [doc];
  if (!Array.isArray(list)) throw rulesErrors.STRATA_ERR_RULES_FILE({ file, reason: '`rules` must be a list' });
  return list.map((item, i) => {
    try {
      return validateRule(item, { ...(channels && { channels }) });
    } catch (err) {
      throw rulesErrors.STRATA_ERR_RULES_FILE({ file, reason: `rule ${i + 1}: ${err instanceof Error ? err.message : String(err)}`, issues: err instanceof StrataError ? err.details.issues : undefined }, err);
    }
  });
}

export class RuleRegistry {
  private readonly db: Db;
  private readonly channels: ReadonlySet<string> | undefined;
  private readonly logger: Logger;
  /** File and preset rules: fixed for the registry's life. */
  private readonly fixed = new Map<string, RuleView>();
  private api = new Map<string, RuleView>();
  private apiSignature = '';
  /** Goes up whenever the rules change, whoever noticed first (a route's write or a poll). */
  generation = 0;
  /** Notify settings by `id@version`, for alerts of any version. */
  private readonly settings = new Map<string, RuleNotifySettings | undefined>();

  private constructor(opts: RuleRegistryOptions) {
    this.db = opts.db;
    this.channels = opts.channels;
    this.logger = opts.logger ?? silentLogger;
  }

  static async open(opts: RuleRegistryOptions): Promise<RuleRegistry> {
    const registry = new RuleRegistry(opts);
    const fixed: { rule: Rule; origin: RuleOrigin; where: string }[] = [];
    for (const name of opts.presets ?? []) {
      const rules = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
      if (!rules) throw rulesErrors.STRATA_ERR_RULES_BAD_OPTION({ option: 'presets', reason: `no preset ${name} (there are ${Object.keys(PRESETS).join(', ')})` });
      for (const rule of rules) fixed.push({ rule: validateRule(rule, { ...(opts.channels && { channels: opts.channels }), where: `preset ${name}` }), origin: 'preset', where: `preset ${name}` });
    }
    for (const path of opts.files ?? []) {
      for (const file of ruleFiles(path)) for (const rule of readRuleFile(file, opts.channels)) fixed.push({ rule, origin: 'file', where: file });
    }
    const where = new Map<string, string>();
    for (const f of fixed) {
      const before = where.get(f.rule.id);
      if (before) throw rulesErrors.STRATA_ERR_RULES_FILE({ file: f.where, reason: `rule id ${f.rule.id} is also defined in ${before}` });
      where.set(f.rule.id, f.where);
    }
    await registry.refresh();
    for (const f of fixed) {
      if (registry.api.has(f.rule.id)) throw rulesErrors.STRATA_ERR_RULES_FILE({ file: f.where, reason: `rule id ${f.rule.id} was also made through the API: delete one of them` });
      registry.fixed.set(f.rule.id, await registry.recordFixed(f.rule, f.origin));
    }
    return registry;
  }

  /** The version of a file or preset rule: the latest stored when its text is the same, else a new one. */
  private async recordFixed(rule: Rule, origin: RuleOrigin): Promise<RuleView> {
    return this.db.kysely.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`rule:${rule.id}`}))`.execute(trx);
      const latest = await trx.selectFrom('rule_versions').select(['version', 'definition', 'created', 'created_by']).where('rule_id', '=', rule.id).orderBy('version', 'desc').limit(1).executeTakeFirst();
      if (latest && canonical(latest.definition) === canonical(rule)) {
        return { id: rule.id, version: latest.version, origin, rule, updated: latest.created.toISOString(), updatedBy: latest.created_by };
      }
      const version = (latest?.version ?? 0) + 1;
      const row = await trx.insertInto('rule_versions').values({ rule_id: rule.id, version, definition: JSON.stringify(rule), origin, created_by: origin }).returning('created').executeTakeFirstOrThrow();
      this.logger.info({ rule: rule.id, version, origin }, 'rule version recorded');
      return { id: rule.id, version, origin, rule, updated: row.created.toISOString(), updatedBy: origin };
    });
  }

  /** Re-reads the API's rules if they changed; true when they did. */
  async refresh(): Promise<boolean> {
    // Versions only grow and a delete flips a flag: no change leaves this unchanged, whatever the clocks.
    const sig = await sql<{ sig: string }>`select count(*) || ':' || coalesce(sum(version), 0) || ':' || count(*) filter (where deleted) as sig from rules`.execute(this.db.kysely);
    const signature = sig.rows[0]?.sig ?? '';
    if (signature === this.apiSignature) return false;
    const rows = await this.db.kysely.selectFrom('rules').selectAll().where('deleted', '=', false).execute();
    this.api = new Map(rows.map((r) => [r.id, { id: r.id, version: r.version, origin: 'api' as const, rule: r.definition as unknown as Rule, updated: r.updated.toISOString(), updatedBy: r.updated_by }]));
    this.apiSignature = signature;
    this.generation++;
    return true;
  }

  /** Every rule, sorted by id. */
  list(): RuleView[] {
    return [...this.fixed.values(), ...this.api.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  get(id: string): RuleView {
    const view = this.fixed.get(id) ?? this.api.get(id);
    if (!view) throw rulesErrors.STRATA_ERR_RULES_NOT_FOUND({ id });
    return view;
  }

  /** What the engine runs. */
  current(): VersionedRule[] {
    return this.list().map((v) => ({ rule: v.rule, version: v.version }));
  }

  async create(input: unknown, by: string): Promise<RuleView> {
    const rule = validateRule(input, { ...(this.channels && { channels: this.channels }) });
    const fixed = this.fixed.get(rule.id);
    if (fixed) throw rulesErrors.STRATA_ERR_RULES_READ_ONLY({ id: rule.id, origin: fixed.origin });
    return this.write(rule, by, (current) => {
      if (current && !current.deleted) throw rulesErrors.STRATA_ERR_RULES_EXISTS({ id: rule.id });
    });
  }

  /** Replaces a rule made through the API; `expectedVersion`, when given, must be the current one (optimistic locking). */
  async replace(id: string, input: unknown, by: string, expectedVersion?: number): Promise<RuleView> {
    const fixed = this.fixed.get(id);
    if (fixed) throw rulesErrors.STRATA_ERR_RULES_READ_ONLY({ id, origin: fixed.origin });
    const rule = validateRule(input, { ...(this.channels && { channels: this.channels }) });
    if (rule.id !== id) throw rulesErrors.STRATA_ERR_RULES_INVALID({ where: '', reason: `/id: must be ${id}, the rule being replaced`, issues: [{ path: '/id', message: `must be ${id}` }] });
    return this.write(rule, by, (current) => {
      if (!current || current.deleted) throw rulesErrors.STRATA_ERR_RULES_NOT_FOUND({ id });
      if (expectedVersion !== undefined && current.version !== expectedVersion) throw rulesErrors.STRATA_ERR_RULES_VERSION_CONFLICT({ id, current: current.version, expected: expectedVersion });
    });
  }

  /** Deletes a rule made through the API. Its alerts stay, with the version that fired. */
  async remove(id: string, by: string): Promise<void> {
    const fixed = this.fixed.get(id);
    if (fixed) throw rulesErrors.STRATA_ERR_RULES_READ_ONLY({ id, origin: fixed.origin });
    const done = await this.db.kysely.updateTable('rules').set({ deleted: true, updated: new Date(), updated_by: by }).where('id', '=', id).where('deleted', '=', false).executeTakeFirst();
    if (Number(done.numUpdatedRows) === 0) throw rulesErrors.STRATA_ERR_RULES_NOT_FOUND({ id });
    await this.refresh();
  }

  private async write(rule: Rule, by: string, check: (current: { version: number; deleted: boolean } | undefined) => void): Promise<RuleView> {
    await this.db.kysely.transaction().execute(async (trx) => {
      // A new id has no row to lock: two creates at once would both take version 1.
      await sql`select pg_advisory_xact_lock(hashtext(${`rule:${rule.id}`}))`.execute(trx);
      const current = await trx.selectFrom('rules').select(['version', 'deleted']).where('id', '=', rule.id).forUpdate().executeTakeFirst();
      check(current);
      const latest = await trx.selectFrom('rule_versions').select((eb) => eb.fn.max('version').as('v')).where('rule_id', '=', rule.id).executeTakeFirst();
      const version = (latest?.v ?? 0) + 1;
      const definition = JSON.stringify(rule);
      await trx.insertInto('rule_versions').values({ rule_id: rule.id, version, definition, origin: 'api', created_by: by }).execute();
      await trx
        .insertInto('rules')
        .values({ id: rule.id, version, definition, deleted: false, updated: new Date(), updated_by: by })
        .onConflict((oc) => oc.column('id').doUpdateSet({ version, definition, deleted: false, updated: new Date(), updated_by: by }))
        .execute();
    });
    await this.refresh();
    return this.get(rule.id);
  }

  /** A rule version's notification settings (cached; versions never change). */
  async settingsFor(ruleId: string, version: number): Promise<RuleNotifySettings | undefined> {
    const key = `${ruleId}@${version}`;
    if (this.settings.has(key)) return this.settings.get(key);
    const row = await this.db.kysely.selectFrom('rule_versions').select('definition').where('rule_id', '=', ruleId).where('version', '=', version).executeTakeFirst();
    const rule = row?.definition as Rule | undefined;
    const settings = rule && (rule.notify?.length || rule.escalation) ? { routes: rule.notify ?? [], ...(rule.escalation && { escalation: rule.escalation }) } : undefined;
    this.settings.set(key, settings);
    return settings;
  }
}
