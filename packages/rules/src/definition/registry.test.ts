import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { openTestDatabase, type TestDb } from '@strata/db/testing';
import { tempDir } from '@strata/testkit';
import { PRESETS } from './presets.js';
import { RuleRegistry, readRuleFile, type RuleRegistryOptions } from './registry.js';

let db: TestDb;
let tmp: { dir: string; remove(): void };

// One database for the file, emptied before each test: a registry keeps no state outside it.
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(() => db.dispose());

beforeEach(async () => {
  await db.kysely.deleteFrom('rules').execute();
  await db.kysely.deleteFrom('rule_versions').execute();
  tmp = tempDir('rules-registry');
});

afterEach(() => {
  vi.useRealTimers();
  tmp.remove();
});

/** A valid threshold rule. */
function rule(id: string, value = 120, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, title: `Rule ${id}`, condition: { type: 'threshold', metric: 'heart_rate', op: '>', value }, ...over };
}

/** Writes `text` (or `value` as YAML/JSON by extension) to a file under the temp dir; returns its path. */
function write(name: string, value: unknown): string {
  const file = join(tmp.dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, typeof value === 'string' ? value : name.endsWith('.json') ? JSON.stringify(value, null, 2) : stringify(value));
  return file;
}

const open = (opts: Omit<RuleRegistryOptions, 'db'> = {}): Promise<RuleRegistry> => RuleRegistry.open({ db, ...opts });

const ids = (r: RuleRegistry): string[] => r.list().map((v) => v.id);

/** Every stored version of a rule: [version, condition value, origin]. */
async function versions(id: string): Promise<[number, unknown, string][]> {
  const rows = await db.kysely.selectFrom('rule_versions').select(['version', 'definition', 'origin']).where('rule_id', '=', id).orderBy('version').execute();
  return rows.map((r) => [r.version, (r.definition as { condition: { value?: unknown } }).condition.value, r.origin]);
}

describe('presets', () => {
  it('loads a preset by name as read-only preset rules at version 1', async () => {
    const r = await open({ presets: ['sickle-cell'] });
    expect(ids(r)).toEqual(PRESETS['sickle-cell']!.map((p) => p.id).sort());
    for (const v of r.list()) expect(v).toMatchObject({ origin: 'preset', version: 1, updatedBy: 'preset' });
    expect(r.get('sickle-cell.fever').rule).toEqual(PRESETS['sickle-cell']![0]);
  });

  it('loads every preset together (the config default) without an id clash', async () => {
    const r = await open({ presets: Object.keys(PRESETS) });
    expect(r.list()).toHaveLength(Object.values(PRESETS).flat().length);
  });

  it('refuses an unknown preset name, naming it and the presets there are', async () => {
    await expect(open({ presets: ['news2', 'sickle'] })).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_BAD_OPTION', statusCode: 400, message: expect.stringMatching(/no preset sickle \(there are .*sickle-cell/) });
  });

  // Was a bug: registry.ts:114 looks the name up on a plain object, so a name like "constructor" or
  // "toString" finds an Object.prototype member and open() dies with "TypeError: ... is not
  // iterable" instead of STRATA_ERR_RULES_BAD_OPTION. (The config schema lists the preset names, so
  // only a direct caller of RuleRegistry.open reaches this.)
  it.each(['constructor', 'toString', '__proto__'])('refuses preset name %j as unknown', async (name) => {
    await expect(open({ presets: [name] })).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_BAD_OPTION' });
  });
});

describe('rule files', () => {
  it('reads one rule, a list, or { rules: [...] } from YAML, and JSON', async () => {
    const files = [
      write('one.yaml', rule('one')),
      write('list.yml', [rule('list-a'), rule('list-b')]),
      write('wrapped.yaml', { rules: [rule('wrapped')] }),
      write('rules.json', [rule('json-a', 99)]),
    ];
    const r = await open({ files });
    expect(ids(r)).toEqual(['json-a', 'list-a', 'list-b', 'one', 'wrapped']);
    for (const v of r.list()) expect(v).toMatchObject({ origin: 'file', version: 1 });
    expect(r.get('json-a').rule).toEqual(rule('json-a', 99));
    expect(r.current()).toContainEqual({ rule: rule('list-b'), version: 1 });
  });

  it('reads hand-written YAML with comments', async () => {
    const file = write('hand.yaml', [
      '# heart rate, ward 3',
      'id: hr-ward3',
      'title: Heart rate high (ward 3)',
      'condition:',
      '  type: threshold',
      '  metric: heart_rate',
      '  op: outside   # both ways',
      '  range: [40, 130]',
      '',
    ].join('\n'));
    expect(readRuleFile(file)).toEqual([{ id: 'hr-ward3', title: 'Heart rate high (ward 3)', condition: { type: 'threshold', metric: 'heart_rate', op: 'outside', range: [40, 130] } }]);
  });

  it('reads only the .yaml, .yml and .json files of a directory', async () => {
    const dir = join(tmp.dir, 'rules.d');
    write('rules.d/a.yaml', rule('a'));
    write('rules.d/b.yml', rule('b'));
    write('rules.d/c.json', rule('c'));
    write('rules.d/README.md', '# not rules: {');
    write('rules.d/d.yaml.bak', rule('d'));
    write('rules.d/notes.txt', 'id: [broken');
    expect(ids(await open({ files: [dir] }))).toEqual(['a', 'b', 'c']);
  });

  it('names the file and the position of a bad rule, with its issues', async () => {
    const file = write('bad.yaml', [rule('good'), rule('bad', 1, { severity: 'dire' })]);
    const err = await open({ files: [file] }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'STRATA_ERR_RULES_FILE', statusCode: 400, message: expect.stringContaining(`rules file ${file}: rule 2: `) });
    expect(err).toMatchObject({ details: { issues: [expect.objectContaining({ path: '/severity' })] } });
    expect(await versions('good')).toEqual([]);
  });

  it('refuses a rule naming a notification channel that is not configured', async () => {
    const file = write('routed.yaml', rule('routed', 1, { notify: [{ channel: 'pager' }] }));
    await expect(open({ files: [file], channels: new Set(['email']) })).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_FILE', message: expect.stringMatching(/rule 1: .*no notification channel pager/) });
    expect(ids(await open({ files: [file], channels: new Set(['email', 'pager']) }))).toEqual(['routed']);
  });

  it.each([
    ['broken YAML', 'broken.yaml', 'id: x\ncondition: {type: threshold\n'],
    ['duplicate YAML keys', 'dup.yaml', 'id: x\nid: y\n'],
    ['broken JSON', 'broken.json', '{"id": "x",'],
    ['YAML that is not a rule', 'scalar.yaml', 'just text\n'],
    ['`rules` that is not a list', 'notlist.yaml', 'rules: {id: x}\n'],
  ])('refuses %s with STRATA_ERR_RULES_FILE naming the file', async (_what, name, text) => {
    const file = write(name, text);
    await expect(open({ files: [file] })).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_FILE', message: expect.stringContaining(file) });
  });

  it('refuses a path that does not exist', async () => {
    const missing = join(tmp.dir, 'nope.yaml');
    await expect(open({ files: [missing] })).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_FILE', message: `rules file ${missing}: not found` });
  });

  it('refuses the same rule id in two files, naming both', async () => {
    const first = write('first.yaml', rule('hr'));
    const second = write('second.json', rule('hr', 130));
    await expect(open({ files: [first, second] })).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_FILE', message: `rules file ${second}: rule id hr is also defined in ${first}` });
  });

  it('refuses a file rule with a preset rule\'s id', async () => {
    const file = write('news.yaml', rule('news2'));
    await expect(open({ presets: ['news2'], files: [file] })).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_FILE', message: expect.stringContaining('rule id news2 is also defined in preset news2') });
  });
});

describe('versions of file rules', () => {
  it('keeps version 1 when the registry opens again on the same file', async () => {
    const file = write('hr.yaml', rule('hr'));
    await open({ files: [file] });
    const again = await open({ files: [file] });
    expect(again.get('hr').version).toBe(1);
    expect(await versions('hr')).toEqual([[1, 120, 'file']]);
  });

  it('records version 2 when the rule\'s text changed, keeping version 1', async () => {
    const file = write('hr.yaml', rule('hr', 120));
    await open({ files: [file] });
    write('hr.yaml', rule('hr', 130));
    const r = await open({ files: [file] });
    expect(r.get('hr')).toMatchObject({ version: 2, rule: rule('hr', 130) });
    expect(r.current()).toEqual([{ rule: rule('hr', 130), version: 2 }]);
    expect(await versions('hr')).toEqual([[1, 120, 'file'], [2, 130, 'file']]);
  });

  it('keeps the version when only the formatting changed', async () => {
    const file = write('hr.yaml', rule('hr', 120, { severity: 'high', scope: { kinds: ['patient'], tags: { ward: '3', bed: '7' } } }));
    await open({ files: [file] });
    write('hr.yaml', [
      '# reformatted: keys reordered, flow style, comments',
      'scope: { tags: { bed: "7", ward: "3" }, kinds: [patient] }',
      'condition: {value: 120.0, op: ">", metric: heart_rate, type: threshold}',
      'severity: high',
      'title: "Rule hr"',
      'id: hr',
    ].join('\n'));
    const r = await open({ files: [file] });
    expect(r.get('hr').version).toBe(1);
    expect(await versions('hr')).toEqual([[1, 120, 'file']]);
  });
});

describe('API rules', () => {
  it('creates a rule at version 1, origin api, visible in list() and current()', async () => {
    const r = await open();
    const view = await r.create(rule('hr'), 'alice');
    expect(view).toMatchObject({ id: 'hr', version: 1, origin: 'api', updatedBy: 'alice', rule: rule('hr') });
    expect(r.list()).toEqual([view]);
    expect(r.current()).toEqual([{ rule: rule('hr'), version: 1 }]);
    expect(await versions('hr')).toEqual([[1, 120, 'api']]);
  });

  it('validates what it creates, against the configured channels', async () => {
    const r = await open({ channels: new Set(['email']) });
    await expect(r.create(rule('hr', 1, { notify: [{ channel: 'pager' }] }), 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_INVALID', statusCode: 400, details: { issues: [{ path: '/notify/0/channel', message: expect.any(String) }] } });
    await expect(r.create({ id: 'hr' }, 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_INVALID' });
    expect(r.list()).toEqual([]);
  });

  // Was a bug: a string holding U+0000 passes validation (schema.ts strings, validate.ts ruleIssues) but
  // PostgreSQL jsonb cannot store it: create() (registry.ts:214-220) fails with the database's
  // "unsupported Unicode escape sequence", a 500 through the API (and a file rule with one makes
  // open() fail with that instead of STRATA_ERR_RULES_FILE). Intended: refused as invalid, 400.
  it('refuses a rule holding a NUL character as invalid, not with a database error', async () => {
    const r = await open();
    await expect(r.create(rule('hr', 120, { title: 'Heart\u0000rate' }), 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_INVALID', statusCode: 400, details: { issues: [expect.objectContaining({ path: '/title' })] } });
    expect(r.list()).toEqual([]);
  });

  it('refuses to create a rule that exists (409)', async () => {
    const r = await open();
    await r.create(rule('hr'), 'alice');
    await expect(r.create(rule('hr', 130), 'bob')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_EXISTS', statusCode: 409 });
    expect(r.get('hr')).toMatchObject({ version: 1, rule: rule('hr'), updatedBy: 'alice' });
  });

  it('refuses to create a rule with a file or preset rule\'s id', async () => {
    const r = await open({ presets: ['news2'], files: [write('hr.yaml', rule('hr'))] });
    await expect(r.create(rule('hr', 130), 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_READ_ONLY', statusCode: 409 });
    await expect(r.create({ ...PRESETS['news2']![0] }, 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_READ_ONLY' });
    expect(await versions('hr')).toEqual([[1, 120, 'file']]);
  });

  it('replaces a rule as version 2, keeping version 1', async () => {
    const r = await open();
    await r.create(rule('hr'), 'alice');
    const view = await r.replace('hr', rule('hr', 130), 'bob', 1);
    expect(view).toMatchObject({ version: 2, origin: 'api', updatedBy: 'bob', rule: rule('hr', 130) });
    expect(r.current()).toEqual([{ rule: rule('hr', 130), version: 2 }]);
    expect(await versions('hr')).toEqual([[1, 120, 'api'], [2, 130, 'api']]);
  });

  it('refuses a replace from a stale version, changing nothing', async () => {
    const r = await open();
    await r.create(rule('hr'), 'alice');
    await r.replace('hr', rule('hr', 130), 'bob');
    await expect(r.replace('hr', rule('hr', 140), 'carol', 1)).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_VERSION_CONFLICT', statusCode: 409, message: expect.stringContaining('version 2, not 1') });
    expect(r.get('hr')).toMatchObject({ version: 2, rule: rule('hr', 130) });
    expect(await versions('hr')).toHaveLength(2);
  });

  it('refuses to replace or remove a file or preset rule (read-only)', async () => {
    const r = await open({ presets: ['news2'], files: [write('hr.yaml', rule('hr'))] });
    await expect(r.replace('hr', rule('hr', 130), 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_READ_ONLY', statusCode: 409, message: expect.stringContaining('comes from file') });
    await expect(r.remove('hr', 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_READ_ONLY' });
    await expect(r.replace('news2', { ...PRESETS['news2']![0], title: 'Mine' }, 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_READ_ONLY', message: expect.stringContaining('comes from preset') });
    await expect(r.remove('news2', 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_READ_ONLY' });
    expect(ids(r)).toEqual(['hr', 'news2']);
    expect(await versions('hr')).toEqual([[1, 120, 'file']]);
  });

  it('refuses a replacement whose id is not the rule\'s', async () => {
    const r = await open();
    await r.create(rule('hr'), 'alice');
    await expect(r.replace('hr', rule('spo2', 130), 'bob')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_INVALID', statusCode: 400, details: { issues: [{ path: '/id', message: 'must be hr' }] } });
    expect(ids(r)).toEqual(['hr']);
    expect(await versions('spo2')).toEqual([]);
  });

  it('refuses to replace a rule that does not exist', async () => {
    const r = await open();
    await expect(r.replace('hr', rule('hr'), 'alice')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_NOT_FOUND', statusCode: 404 });
    expect(await versions('hr')).toEqual([]);
  });

  it('removes a rule; a new one with its id continues its versions', async () => {
    const r = await open();
    await r.create(rule('hr'), 'alice');
    await r.create(rule('spo2'), 'alice');
    await r.replace('hr', rule('hr', 130), 'alice');
    await r.remove('hr', 'bob');
    expect(ids(r)).toEqual(['spo2']);
    expect(() => r.get('hr')).toThrow(expect.objectContaining({ code: 'STRATA_ERR_RULES_NOT_FOUND', statusCode: 404 }));
    await expect(r.remove('hr', 'bob')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_NOT_FOUND' });
    await expect(r.replace('hr', rule('hr', 140), 'bob')).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_NOT_FOUND' });

    const again = await r.create(rule('hr', 150), 'carol');
    expect(again).toMatchObject({ version: 3, updatedBy: 'carol' });
    expect(await versions('hr')).toEqual([[1, 120, 'api'], [2, 130, 'api'], [3, 150, 'api']]);
  });

  it('refuses to open when a file defines a rule made through the API', async () => {
    await (await open()).create(rule('hr'), 'alice');
    const file = write('hr.yaml', rule('hr', 130));
    await expect(open({ files: [file] })).rejects.toMatchObject({ code: 'STRATA_ERR_RULES_FILE', message: expect.stringContaining('rule id hr was also made through the API') });
  });

  it('lets a file take over the id of a removed API rule, as its next version', async () => {
    const api = await open();
    await api.create(rule('hr'), 'alice');
    await api.remove('hr', 'alice');
    const r = await open({ files: [write('hr.yaml', rule('hr', 130))] });
    expect(r.get('hr')).toMatchObject({ origin: 'file', version: 2 });
    expect(await versions('hr')).toEqual([[1, 120, 'api'], [2, 130, 'file']]);
  });

  // Was a bug: registry.ts:210-216: for a new id, `select ... for update` on `rules` locks no row, so two
  // concurrent creates both compute version 1 and the second dies on the rule_versions primary key
  // (PostgreSQL 23505, a 500 through the API) instead of STRATA_ERR_RULES_EXISTS. Shows on a
  // PostgreSQL server only (PGlite runs one transaction at a time, so this passes in `unit`):
  // verified with this file run under the `engines-store` setup. Intended: one wins, the other 409.
  it('lets one of two registries creating the same rule at once win; the other gets STRATA_ERR_RULES_EXISTS', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const results = await Promise.allSettled([a.create(rule('hr', 120), 'alice'), b.create(rule('hr', 130), 'bob')]);
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((x) => x.status === 'rejected')).toMatchObject({ reason: { code: 'STRATA_ERR_RULES_EXISTS' } });
    expect(await versions('hr')).toHaveLength(1);
  });
});

describe('several registries on one database', () => {
  it('sees another registry\'s API changes after refresh()', async () => {
    const a = await open();
    const b = await open();
    expect(await b.refresh()).toBe(false);

    await a.create(rule('hr'), 'alice');
    expect(ids(b)).toEqual([]);
    expect(await b.refresh()).toBe(true);
    expect(b.get('hr')).toMatchObject({ version: 1, origin: 'api', rule: rule('hr') });
    expect(await b.refresh()).toBe(false);

    await a.replace('hr', rule('hr', 130), 'alice');
    expect(await b.refresh()).toBe(true);
    expect(b.current()).toEqual([{ rule: rule('hr', 130), version: 2 }]);

    await a.remove('hr', 'alice');
    expect(await b.refresh()).toBe(true);
    expect(ids(b)).toEqual([]);
    expect(await b.refresh()).toBe(false);
  });

  // Was a bug: registry.ts:152 detects changes by `count(*)` and `max(updated)`, and `updated` is the
  // writer's `new Date()` (registry.ts:203,218-219). A replace stamped no later than the newest
  // row (a writer whose clock is behind, or two writes in the same millisecond) changes neither,
  // so other processes keep running the old definition until some unrelated change. Intended:
  // every write is seen (e.g. sign with `sum(version)` and `count(*) filter (where deleted)`, or
  // a sequence bumped on each write).
  it('sees a change made by a process whose clock is behind', async () => {
    const a = await open();
    const b = await open();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2030-01-01T12:00:00Z'));
    await a.create(rule('hr'), 'alice');
    await a.create(rule('spo2'), 'alice');
    expect(await b.refresh()).toBe(true);

    vi.setSystemTime(Date.parse('2030-01-01T11:59:00Z')); // the next write comes from a host a minute behind
    await a.replace('hr', rule('hr', 130), 'bob');
    expect(await b.refresh()).toBe(true);
    expect(b.get('hr')).toMatchObject({ version: 2, rule: rule('hr', 130) });
  });
});

describe('settingsFor', () => {
  const channels = new Set(['email', 'pager', 'sms']);

  it('returns the routes and escalation of that exact version', async () => {
    const r = await open({ channels });
    const v1 = rule('hr', 120, { notify: [{ channel: 'email', minSeverity: 'high' }], escalation: { afterSeconds: 600, channels: ['pager'] } });
    await r.create(v1, 'alice');
    expect(await r.settingsFor('hr', 1)).toEqual({ routes: [{ channel: 'email', minSeverity: 'high' }], escalation: { afterSeconds: 600, channels: ['pager'] } });

    await r.replace('hr', rule('hr', 130, { notify: [{ channel: 'sms' }] }), 'bob');
    expect(await r.settingsFor('hr', 2)).toEqual({ routes: [{ channel: 'sms' }] });
    // An alert raised by version 1 still goes where version 1 said, also for a process that never saw it.
    const other = await open({ channels });
    expect(await other.settingsFor('hr', 1)).toEqual({ routes: [{ channel: 'email', minSeverity: 'high' }], escalation: { afterSeconds: 600, channels: ['pager'] } });
    expect(await other.settingsFor('hr', 2)).toEqual({ routes: [{ channel: 'sms' }] });
  });

  it('returns escalation alone for a rule that only escalates', async () => {
    const r = await open({ channels });
    await r.create(rule('hr', 120, { escalation: { afterSeconds: 60, channels: ['pager'] } }), 'alice');
    expect(await r.settingsFor('hr', 1)).toEqual({ routes: [], escalation: { afterSeconds: 60, channels: ['pager'] } });
  });

  it('returns undefined for a rule without notify, and for a version that does not exist', async () => {
    const r = await open({ presets: ['news2'], files: [write('hr.yaml', rule('hr', 120, { notify: [{ channel: 'email' }] }))], channels });
    await r.create(rule('quiet'), 'alice');
    expect(await r.settingsFor('quiet', 1)).toBeUndefined();
    expect(await r.settingsFor('news2', 1)).toBeUndefined();
    expect(await r.settingsFor('hr', 1)).toEqual({ routes: [{ channel: 'email' }] });
    expect(await r.settingsFor('hr', 2)).toBeUndefined();
  });
});
