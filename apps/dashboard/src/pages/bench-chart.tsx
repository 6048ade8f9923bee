/**
 * `#/bench/chart?series=50&hz=10&seconds=10`: the frame-time benchmark of bench/dashboard.ts.
 * One uPlot chart with `series` live series of synthetic data, `hz` updates a second (each adds a
 * point to every series, a 60 s window), while requestAnimationFrame deltas are recorded for
 * `seconds` after a one-second warm-up. The result goes to `window.__benchResult` and the page.
 * No sign-in: it reads no data.
 */
import { useEffect, useRef, useState } from 'react';
import uPlot, { type AlignedData } from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { color } from '../components/chart';
import type { Route } from '../router';

export interface BenchResult {
  series: number;
  hz: number;
  frames: number;
  updates: number;
  frameMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  /** Time spent in setData per update (uPlot defers the drawing to the next frame). */
  updateMs: { p50: number; p95: number; max: number };
  /** Time uPlot spent drawing the canvas, per draw (drawClear to draw hooks). */
  drawMs: { p50: number; p95: number; max: number };
}

declare global {
  interface Window {
    __benchResult?: BenchResult;
  }
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export default function BenchChart({ route }: { route: Route }) {
  const box = useRef<HTMLDivElement>(null);
  const [result, setResult] = useState<BenchResult>();
  const series = Number(route.query.get('series') ?? 50);
  const hz = Number(route.query.get('hz') ?? 10);
  const seconds = Number(route.query.get('seconds') ?? 10);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const window60 = 60 * hz;
    const start = Date.now() / 1000 - 60;
    const xs: number[] = Array.from({ length: window60 }, (_, i) => start + i / hz);
    const ys: number[][] = Array.from({ length: series }, (_, s) => xs.map((_, i) => Math.sin(i / 20 + s) * 10 + s * 3));
    const drawTimes: number[] = [];
    let drawStart = 0;
    const u = new uPlot(
      {
        width: el.clientWidth || 1200,
        height: 480,
        legend: { show: false },
        scales: { x: { time: true } },
        hooks: { drawClear: [() => void (drawStart = performance.now())], draw: [() => void drawTimes.push(performance.now() - drawStart)] },
        series: [{}, ...ys.map((_, i) => ({ label: `s${i}`, stroke: color(i), width: 1 }))] },
      [xs, ...ys] as AlignedData,
      el,
    );
    let t = xs.at(-1)!;
    let n = 0;
    const updateTimes: number[] = [];
    const feed = setInterval(() => {
      t += 1 / hz;
      n++;
      xs.push(t);
      xs.shift();
      for (let s = 0; s < series; s++) {
        const y = ys[s]!;
        y.push(Math.sin(n / 20 + s) * 10 + s * 3 + Math.random());
        y.shift();
      }
      const t0 = performance.now();
      u.setData([xs, ...ys] as AlignedData);
      updateTimes.push(performance.now() - t0);
    }, 1000 / hz);

    const deltas: number[] = [];
    let last = 0;
    let raf = 0;
    const warmUntil = performance.now() + 1000;
    const endAt = warmUntil + seconds * 1000;
    let updatesAtStart = 0;
    let drawsAtStart = 0;
    const frame = (now: number): void => {
      if (now >= warmUntil) {
        if (last === 0) {
          updatesAtStart = updateTimes.length;
          drawsAtStart = drawTimes.length;
        }
        else deltas.push(now - last);
        last = now;
      }
      if (now < endAt) raf = requestAnimationFrame(frame);
      else {
        clearInterval(feed);
        const sorted = [...deltas].sort((a, b) => a - b);
        const upd = updateTimes.slice(updatesAtStart).sort((a, b) => a - b);
        const draws = drawTimes.slice(drawsAtStart).sort((a, b) => a - b);
        const r: BenchResult = {
          series,
          hz,
          frames: deltas.length,
          updates: upd.length,
          frameMs: { p50: pct(sorted, 50), p95: pct(sorted, 95), p99: pct(sorted, 99), max: sorted.at(-1) ?? 0, mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length) },
          updateMs: { p50: pct(upd, 50), p95: pct(upd, 95), max: upd.at(-1) ?? 0 },
          drawMs: { p50: pct(draws, 50), p95: pct(draws, 95), max: draws.at(-1) ?? 0 },
        };
        window.__benchResult = r;
        setResult(r);
      }
    };
    raf = requestAnimationFrame(frame);
    return () => {
      clearInterval(feed);
      cancelAnimationFrame(raf);
      u.destroy();
    };
  }, [series, hz, seconds]);

  return (
    <main className="bench">
      <h1>Chart benchmark: {series} live series at {hz} updates/s</h1>
      <div ref={box} />
      <p data-testid="bench-result" role="status">{result ? `frame time p95 ${result.frameMs.p95.toFixed(1)} ms over ${result.frames} frames; draw p95 ${result.drawMs.p95.toFixed(2)} ms` : 'running…'}</p>
    </main>
  );
}
