/**
 * bench:dashboard — the dashboard's budgets (issue 7), measured in Debian's Chromium
 * (/usr/bin/chromium, through playwright-core; no browser download), loopback only:
 *
 *   npm run bench:dashboard [-- --runs 5] [--seconds 10] [--out none]
 *
 * - First load of `/`: a real `strata start` (embedded engines, demo devices) in a temp data
 *   dir; each run in a fresh browser context (cold cache), signed in as the first admin through
 *   the tab's refresh token (as after a reload), timed from navigation start to the load event
 *   and to the first data render (the overview's live figures in the DOM). Baseline in the same
 *   run: an empty HTML page from a bare node:http server on loopback, navigation to load event.
 *   Budget: load event under 1 s.
 * - JS bundle: gzip bytes of every JS file of the build (all pages), and the JS the browser
 *   fetched on the first load (encoded bytes, as sent). Budget: under 400 KB gzip.
 * - Live chart frame time: `#/bench/chart` (one uPlot chart, 50 series, 10 updates/s, a 60 s
 *   window), requestAnimationFrame deltas over --seconds after a 1 s warm-up; baseline in the same
 *   run: the same page with 1 series. Budget: p95 under 20 ms.
 *
 * Writes bench/results/dashboard.json (--out none: print only).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import { seededDataDir } from '@strata/db/testing';
import { startServerProcess } from '@strata/testkit';
import { arg, int } from './args.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');
const dist = join(root, 'apps', 'dashboard', 'dist');
const CHROMIUM = '/usr/bin/chromium';
const BUDGETS = { firstLoadMs: 1000, jsGzipBytes: 400 * 1024, frameP95Ms: 20 };

const runs = int('runs', 5, 1);
const seconds = int('seconds', 10, 2);
const out = arg('out');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
};
/** Evaluated in the page: navigation start (0) to the end of the load event, ms. */
const LOAD_EVENT_END = "performance.getEntriesByType('navigation')[0].loadEventEnd";
const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

function bundleSizes(): { files: number; rawBytes: number; gzipBytes: number } {
  const files = readdirSync(join(dist, 'assets')).filter((f) => f.endsWith('.js'));
  let rawBytes = 0;
  let gzipBytes = 0;
  for (const f of files) {
    const body = readFileSync(join(dist, 'assets', f));
    rawBytes += body.length;
    gzipBytes += gzipSync(body, { level: 9 }).length;
  }
  return { files: files.length, rawBytes, gzipBytes };
}

async function baselineLoad(browser: Browser): Promise<number[]> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>empty</title><p>empty</p>'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });
      times.push(await page.evaluate<number>(LOAD_EVENT_END));
      await context.close();
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  return times;
}

async function dashboardLoad(browser: Browser, url: string, password: string) {
  const loads: number[] = [];
  const firstData: number[] = [];
  const jsBytes: number[] = [];
  for (let i = 0; i < runs; i++) {
    // A refresh token for this tab, as a signed-in user's reload has (refresh tokens are single use).
    const login = await fetch(`${url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
    if (!login.ok) throw new Error(`login: ${login.status} ${await login.text()}`);
    const { refreshToken } = (await login.json()) as { refreshToken: string };
    const context = await browser.newContext();
    // Runs in the page before its own scripts (a string: this file is typechecked without the DOM library).
    await context.addInitScript({
      content: `sessionStorage.setItem('strata.refresh', ${JSON.stringify(refreshToken)});
        new MutationObserver((_m, observer) => {
          if (document.querySelector('[data-testid="events-per-second"]')) { window.__firstData = performance.now(); observer.disconnect(); }
        }).observe(document, { childList: true, subtree: true });`,
    });
    const page = await context.newPage();
    let js = 0;
    page.on('response', (res) => {
      if (res.url().endsWith('.js')) void res.headerValue('content-length').then((v) => (js += Number(v ?? 0)));
    });
    await page.goto(`${url}/`, { waitUntil: 'load' });
    await page.waitForFunction('window.__firstData !== undefined', undefined, { timeout: 30_000 });
    loads.push(await page.evaluate<number>(LOAD_EVENT_END));
    firstData.push(await page.evaluate<number>('window.__firstData'));
    jsBytes.push(js);
    await context.close();
  }
  return { loads, firstData, jsBytes };
}

interface ChartResult {
  series: number;
  hz: number;
  frames: number;
  updates: number;
  frameMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  updateMs: { p50: number; p95: number; max: number };
  drawMs: { p50: number; p95: number; max: number };
}

async function chartFrames(browser: Browser, url: string, series: number): Promise<ChartResult> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  try {
    const page = await context.newPage();
    await page.goto(`${url}/#/bench/chart?series=${series}&hz=10&seconds=${seconds}`);
    await page.waitForFunction('window.__benchResult !== undefined', undefined, { timeout: (seconds + 30) * 1000 });
    return await page.evaluate<ChartResult>('window.__benchResult');
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  const built = spawnSync(process.execPath, [join(root, 'apps/dashboard/scripts/ensure-built.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('the dashboard build failed');
  const bundle = bundleSizes();
  const loadAtStart = loadavg()[0]!;

  const data = await seededDataDir('bench-dashboard');
  const server = await startServerProcess(['--data', data.dir, '--host', '127.0.0.1'], { STRATA_LOG_LEVEL: 'warn' }, 60_000);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const password = readFileSync(join(data.dir, 'admin.password'), 'utf8').trim();
    const baseline = await baselineLoad(browser);
    const dash = await dashboardLoad(browser, server.url, password);
    const chart1 = await chartFrames(browser, server.url, 1);
    const chart50 = await chartFrames(browser, server.url, 50);
    const chromiumVersion = browser.version();

    const firstLoadMs = median(dash.loads);
    const result = {
      bench: 'dashboard',
      at: new Date().toISOString(),
      chromium: chromiumVersion,
      runs,
      firstLoad: {
        what: 'navigation start to load event of / (cold cache, fresh context), and to the first data render (overview figures in the DOM); median of runs',
        loadEventMs: { median: round(firstLoadMs), max: round(Math.max(...dash.loads)), runs: dash.loads.map((x) => round(x)) },
        firstDataRenderMs: { median: round(median(dash.firstData)), max: round(Math.max(...dash.firstData)), runs: dash.firstData.map((x) => round(x)) },
        baselineEmptyPageLoadEventMs: { median: round(median(baseline)), runs: baseline.map((x) => round(x)) },
        jsFetchedOnFirstLoadBytes: median(dash.jsBytes),
      },
      bundle: { what: 'every JS file of the build (all pages, code-split), gzip -9', ...bundle },
      chart: {
        what: `one uPlot chart, 10 updates/s, 60 s window, requestAnimationFrame deltas over ${seconds} s`,
        series50: chart50,
        baselineSeries1: chart1,
      },
      budgets: {
        firstLoadMs: { limit: BUDGETS.firstLoadMs, measured: round(firstLoadMs), met: firstLoadMs < BUDGETS.firstLoadMs },
        jsGzipBytes: { limit: BUDGETS.jsGzipBytes, measured: bundle.gzipBytes, met: bundle.gzipBytes < BUDGETS.jsGzipBytes },
        frameP95Ms: { limit: BUDGETS.frameP95Ms, measured: round(chart50.frameMs.p95, 2), met: chart50.frameMs.p95 < BUDGETS.frameP95Ms },
      },
      machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavg1: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) } },
    };
    console.log(JSON.stringify(result, null, 2));
    if (out !== 'none') writeFileSync(join(here, 'results', 'dashboard.json'), JSON.stringify(result, null, 2) + '\n');
  } finally {
    await browser.close();
    server.child.kill('SIGTERM');
    await server.exited;
    data.remove();
  }
}

await main();
