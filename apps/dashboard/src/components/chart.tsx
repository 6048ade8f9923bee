/**
 * A uPlot (canvas) time chart: x in Unix seconds, one or more y series. The instance is made once
 * and fed with `setData`, so live updates redraw the canvas without React re-rendering it; the
 * width follows the container. `data-points` on the figure says how many x values it shows (the
 * browser tests watch it grow).
 */
import { useEffect, useRef } from 'react';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

export function color(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

export interface ChartProps {
  title: string;
  series: string[];
  data: AlignedData;
  height?: number;
  /** Draw series as points and lines (true) or lines only. */
  points?: boolean;
  /** Show this many seconds up to the latest point (or now), instead of fitting the data. */
  xWindow?: number;
}

export function Chart({ title, series, data, height = 220, points = false, xWindow }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const key = series.join('\u0000');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: xWindow
          ? { time: true, range: (_u, _min, max) => {
              const end = Math.max(Number.isFinite(max) ? max : 0, Date.now() / 1000);
              return [end - xWindow, end];
            } }
          : { time: true },
      },
      series: [{}, ...series.map((label, i) => ({ label, stroke: color(i), width: 1.5, points: { show: points }, spanGaps: false }))],
      axes: [{ stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } }, { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } }],
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const observer = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = undefined;
    };
    // Made again only when the series change; data goes through setData below.
  }, [key, height, points, xWindow]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <figure className="chart" data-points={data[0].length} aria-label={`${title}: chart of ${series.join(', ')}, ${data[0].length} points`}>
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}
