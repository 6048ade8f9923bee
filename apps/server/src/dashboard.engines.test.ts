/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core; no browser download)
 * against a real `strata start` process with embedded engines and the demo devices: sign in,
 * live chart, an alert raised by a bad reading and acknowledged in the UI, an API key made in
 * the UI and used to ingest, a role that may not see patients not seeing them, and an analyst
 * (no latest values) seeing a device's history charts. Screenshots of
 * every page go to bench/results/screenshots/ for a person to look at, and every page (sign-in
 * included) is audited with axe-core's WCAG 2 A/AA rules first (audit below).
 *
 * In the `engines` project only (`npm run test:engines`, `npm run test:e2e`): `npm test` needs no browser.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startServerProcess, type ServerProcess } from '@strata/testkit';
import { seededDataDir } from '@strata/db/testing';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SHOTS = join(ROOT, 'bench', 'results', 'screenshots');
const OPERATOR = { username: 'olga', password: 'Operator-pass-42' };
const ANALYST = { username: 'ana', password: 'Analyst-pass-42' };
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const AXE_TAGS = ['wcag2a', 'wcag2aa'];
/** axe rule ids tolerated on every page, each with the reason (none today: fix, don't list). */
const AXE_ALLOWED = new Map<string, string>();

let data: { dir: string; remove(): void };
let server: ServerProcess;
let browser: Browser;
let adminKey: string;
let adminPassword: string;

async function http(path: string, init: { method?: string; body?: unknown; key?: string } = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key ?? adminKey}`, ...(init.body !== undefined && { 'content-type': 'application/json' }) },
    ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

interface AxeFinding { id: string; impact: string | null; help: string; targets: string[] }

/**
 * axe-core's WCAG 2 A and AA rules on the page as it is now: fails on any `serious` or `critical`
 * violation not in AXE_ALLOWED, naming the rule and the elements. Called once a page is ready.
 */
async function audit(page: Page, name: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async (tags): Promise<AxeFinding[]> => {
    const g = globalThis as any; // axe and document are the page's (this file is typed without DOM)
    const result = await g.axe.run(g.document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v: any) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n: any) => n.target.join(' ')) }));
  }, AXE_TAGS);
  const blocking = found.filter((v) => (v.impact === 'serious' || v.impact === 'critical') && !AXE_ALLOWED.has(v.id));
  const report = blocking.map((v) => `${v.id} (${v.impact}: ${v.help}) at ${v.targets.slice(0, 5).join(' | ')}${v.targets.length > 5 ? ` and ${v.targets.length - 5} more` : ''}`);
  expect(report, `axe ${AXE_TAGS.join(' + ')}: serious or critical violations on the ${name} page`).toEqual([]);
}

async function signIn(context: BrowserContext, username: string, password: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.getByLabel('Username').waitFor();
  await audit(page, 'login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return page;
}

/** Audits the page (audit) and screenshots it: every page a test shows a person is also checked. */
async function shot(page: Page, name: string): Promise<void> {
  await audit(page, name);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const hasChromium = existsSync(CHROMIUM);

describe.skipIf(!hasChromium)('the dashboard in Chromium', () => {
  let admin: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const built = spawnSync(process.execPath, [join(ROOT, 'apps/dashboard/scripts/ensure-built.mjs')], { stdio: 'inherit' });
    expect(built.status).toBe(0);
    data = await seededDataDir('dashboard-e2e');
    // Lake jobs every 10 s instead of 5 min, so the lake page has gold rows within the test.
    server = await startServerProcess(['--data', data.dir, '--host', '127.0.0.1'], { STRATA_LOG_LEVEL: 'warn', STRATA_LAKE__SCHEDULE: '*/10 * * * * *' }, 60_000);
    adminKey = readFileSync(join(data.dir, 'admin.key'), 'utf8').trim();
    adminPassword = readFileSync(join(data.dir, 'admin.password'), 'utf8').trim();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    admin = await browser.newContext({ viewport: { width: 1366, height: 900 }, timezoneId: 'Europe/Paris' });
    page = await signIn(admin, 'admin', adminPassword);
  });

  afterAll(async () => {
    await browser?.close();
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    data?.remove();
  });

  it('is announced by strata start with its URL and, on the first start, the admin sign-in', async () => {
    await expect.poll(() => server.stdout()).toContain(`Dashboard: ${server.url}/`); // the line after the one startServerProcess waits for
    expect(server.stdout()).toContain(`user admin  password ${adminPassword}`);
  });

  it('signs in and shows the live overview', async () => {
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByTestId('events-per-second').waitFor();
    await expect.poll(async () => page.getByText(/\d+ online/).textContent(), { timeout: 20_000 }).toMatch(/[1-9]\d* online/);
    // Only what an admin may see, and every page of it, in the navigation.
    const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
    expect(nav).toEqual(['Overview', 'Devices', 'Patients', 'Machines', 'Alerts', 'Lake', 'Rules', 'Admin']);
    await shot(page, 'overview');
  });

  it('lists devices, and a demo device chart receives new points live', async () => {
    await page.goto(`${server.url}/#/devices`);
    await page.getByRole('link', { name: 'machine-001' }).waitFor();
    await page.getByLabel('Search').fill('machine');
    await expect.poll(() => page.getByRole('row').count()).toBe(4); // header + 3 demo machines
    await shot(page, 'devices');

    await page.getByRole('link', { name: 'machine-001' }).click();
    await page.getByRole('heading', { name: 'machine-001' }).waitFor();
    await page.getByText('receiving live readings').waitFor({ timeout: 20_000 });
    const chart = page.locator('figure.chart[aria-label^="temperature:"]');
    await chart.waitFor();
    const before = Number(await chart.getAttribute('data-points'));
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(before + 1);
    await shot(page, 'device-detail');
  });

  it('shows an alert a bad reading raised, and acknowledges it with a note', async () => {
    const rule = await http('/v1/rules', {
      method: 'POST',
      body: { id: 'e2e-pressure', title: 'E2E line pressure high', severity: 'high', scope: { kinds: ['machine'] }, condition: { type: 'threshold', metric: 'pressure', op: '>', value: 5 } },
    });
    expect(rule.status).toBe(201);
    await page.goto(`${server.url}/#/alerts`);
    await page.getByRole('heading', { name: 'Alerts' }).waitFor();
    // Rules changes reach the engine on its next reload: ingest until the alert is open.
    await expect.poll(async () => {
      expect((await http('/v1/ingest', { method: 'POST', body: [{ device: 'machine-002', metrics: { pressure: 9.5 }, tags: { kind: 'machine' } }] })).status).toBe(200);
      return (await http('/v1/alerts?rule=e2e-pressure')).body.alerts.length;
    }, { timeout: 30_000, interval: 1000 }).toBeGreaterThan(0);
    // The list is live (alerts SSE): the alert shows up without a reload.
    const link = page.getByRole('link', { name: 'E2E line pressure high' });
    await link.waitFor({ timeout: 20_000 });
    await audit(page, 'alerts list');
    await link.click();
    await page.getByRole('heading', { name: /E2E line pressure high/ }).waitFor();
    await page.getByLabel('Note').fill('checking the pump');
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByText(/Acknowledged by user:admin/).waitFor();
    const [alert] = (await http('/v1/alerts?rule=e2e-pressure')).body.alerts;
    expect(alert).toMatchObject({ status: 'acknowledged', ackNote: 'checking the pump', acknowledgedBy: 'user:admin' });
    await shot(page, 'alerts');
  });

  it('creates an API key shown once, which then ingests', async () => {
    await page.goto(`${server.url}/#/admin`);
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await page.locator('input[name=key-name]').fill('e2e gateway');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.getByTestId('new-key').textContent())!.trim();
    expect(key).toMatch(/^stk_/);
    await shot(page, 'admin');
    const res = await http('/v1/ingest', { method: 'POST', key, body: [{ device: 'sensor-e2e', metrics: { temperature: 21.5 } }] });
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(1);
    // Shown once: after a reload only its id is listed.
    await page.reload();
    await page.getByRole('cell', { name: 'e2e gateway' }).waitFor();
    expect(await page.content()).not.toContain(key);
  });

  it('shows rule validation problems at the field they name', async () => {
    await page.goto(`${server.url}/#/rules`);
    await page.getByRole('button', { name: 'New rule' }).click();
    const editor = page.getByLabel(/Rule \(JSON/);
    const issues = page.getByRole('alert', { name: 'Problems in the rule' });
    // Refused by the rules' own checks (issues with JSON pointers)...
    await editor.fill(JSON.stringify({ id: 'e2e-band', title: 'Band', severity: 'high', condition: { type: 'threshold', metric: 'pressure', op: 'outside' } }, null, 2));
    await page.getByRole('button', { name: 'Save' }).click();
    await issues.getByText('/condition/range').waitFor();
    expect(await editor.getAttribute('aria-invalid')).toBe('true');
    // ...and fields of the wrong kind or value (also itemised by the API).
    await editor.fill(JSON.stringify({ id: 'e2e-band', title: 'Band', severity: 'urgent', condition: { type: 'threshold', metric: 'pressure', op: '>', value: 'high' } }, null, 2));
    await page.getByRole('button', { name: 'Save' }).click();
    await issues.getByText('/severity').first().waitFor();
    await shot(page, 'rules');
  });

  it('shows patients with their NEWS2 band and clinical response, and machines', async () => {
    await page.goto(`${server.url}/#/patients`);
    await page.getByTestId('news2-current').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('news2-current').textContent()).toMatch(/Clinical response/);
    await shot(page, 'patients');
    // A failure prediction for machine-003, as the state consumer keeps the scoring role's
    // events: latest values of failure_probability and failure_predicted. Ingested as telemetry
    // here (the test cannot append to the server's predictions topic, and no model is trained).
    expect((await http('/v1/ingest', { method: 'POST', body: [{ device: 'machine-003', metrics: { failure_probability: 0.87, failure_predicted: 1 }, tags: { kind: 'machine' } }] })).status).toBe(200);
    await expect.poll(async () => (await http('/v1/predictions/latest?kind=machine')).body.predictions.map((p: { device: string }) => p.device), { timeout: 20_000 }).toContain('machine-003');
    await page.goto(`${server.url}/#/machines/machine-003`);
    await page.locator('figure.chart').first().waitFor();
    await expect.poll(() => page.getByTestId('prediction-machine-003').textContent()).toMatch(/failure risk 87%.*failure predicted/);
    expect(await page.getByTestId('prediction-machine-001').textContent()).toBe('no model');
    await page.getByRole('heading', { name: 'Failure prediction' }).waitFor();
    expect(await page.getByTestId('prediction-probability').textContent()).toMatch(/^87%/);
    await expect.poll(() => page.getByRole('figure', { name: /^failure_probability/ }).count()).toBeGreaterThan(0);
    await shot(page, 'machines');
  });

  it('shows the gold KPIs of the lake once the lake jobs have run', async () => {
    expect((await http('/v1/admin/flush', { method: 'POST' })).status).toBe(200); // telemetry to the raw zone now, not in 5 min
    await expect.poll(async () => {
      const res = await http('/v1/query', { method: 'POST', body: { sql: 'SELECT count(*) AS n FROM gold_fleet_daily' } });
      return res.status === 200 ? Number(res.body.rows[0].n) : 0;
    }, { timeout: 90_000, interval: 2000 }).toBeGreaterThan(0);
    await page.goto(`${server.url}/#/lake`);
    await page.getByTestId('gold_fleet_daily').waitFor();
    expect(await page.getByTestId('gold_fleet_daily').getByRole('row').count()).toBeGreaterThan(1);
    await page.getByRole('heading', { name: 'Quarantine (bronze)' }).waitFor();
    await expect.poll(() => page.getByText('Loading…').count()).toBe(0);
    await shot(page, 'lake');
  });

  it('keeps the device table to the rows in view with 10,000 more devices', async () => {
    const events = Array.from({ length: 10_000 }, (_, i) => ({ device: `fleet-${String(i).padStart(5, '0')}`, metrics: { temperature: 20 + (i % 10) }, tags: { kind: 'sensor' } }));
    expect((await http('/v1/ingest', { method: 'POST', body: events })).status).toBe(200);
    await expect.poll(async () => (await http('/v1/devices/fleet-09999')).status, { timeout: 30_000, interval: 500 }).toBe(200);
    await page.goto(`${server.url}/#/devices`);
    await page.getByText(/of 10,0\d\d devices/).waitFor({ timeout: 30_000 });
    const rows = page.locator('.vbody [role=row]');
    expect(await rows.count()).toBeLessThan(80); // virtualised: the DOM holds what is in view, not 10,000 rows
    await page.locator('.vbody').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.getByRole('link', { name: 'fleet-09999' }).waitFor();
    expect(await rows.count()).toBeLessThan(80);
    await page.getByLabel('Search').fill('fleet-0999');
    await expect.poll(() => rows.count()).toBe(10);
    await shot(page, 'devices-10k');
  });

  it('hides patients from a role that may not see them', async () => {
    expect((await http('/v1/users', { method: 'POST', body: { ...OPERATOR, role: 'operator' } })).status).toBe(201);
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 } }); // a tablet
    try {
      const op = await signIn(context, OPERATOR.username, OPERATOR.password);
      const nav = await op.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
      expect(nav).not.toContain('Patients');
      expect(nav).not.toContain('Admin');
      await op.goto(`${server.url}/#/devices`);
      await op.getByText(/of 10,0\d\d devices/).waitFor({ timeout: 30_000 });
      await op.getByLabel('Search').fill('patient');
      await op.getByText(/^0 of 10,0\d\d devices/).waitFor();
      await op.getByLabel('Search').fill('machine');
      await op.getByRole('link', { name: 'machine-001' }).waitFor();
      await shot(op, 'operator-devices');
      await op.goto(`${server.url}/#/patients`);
      await op.getByRole('heading', { name: 'Not here' }).waitFor();
      await op.goto(`${server.url}/#/devices/patient-001`);
      await op.getByText(/no device patient-001/).waitFor();
      await shot(op, 'operator-patient-refused');
    } finally {
      await context.close();
    }
  });

  it('shows an analyst, who may not read latest values, the history charts of a device', async () => {
    expect((await http('/v1/users', { method: 'POST', body: { ...ANALYST, role: 'analyst' } })).status).toBe(201);
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    try {
      const an = await signIn(context, ANALYST.username, ANALYST.password);
      await an.goto(`${server.url}/#/devices/machine-001`);
      await an.getByRole('heading', { name: 'machine-001' }).waitFor();
      await an.getByLabel('1 hour').check();
      const chart = an.locator('figure.chart[aria-label^="temperature:"]');
      await chart.waitFor({ timeout: 20_000 });
      // The figure is drawn when the metric is known, before the range's history arrives: wait for it.
      await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(0);
      expect(await an.getByText('No readings yet.').count()).toBe(0);
      expect(await an.getByRole('table', { name: 'Latest values' }).count()).toBe(0);
      await shot(an, 'analyst-device-detail');
    } finally {
      await context.close();
    }
  });
});
