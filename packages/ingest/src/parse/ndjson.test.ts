import { describe, expect, it } from 'vitest';
import { parseIngestBody } from './index.js';
import { NOW_MS, ctx, limits } from './test-support.js';

const T = Date.UTC(2025, 11, 4, 12);

describe.each(['application/x-ndjson', 'application/ndjson'])('%s', (type) => {
  it('takes one object per line, \\n or \\r\\n, skipping blank lines', () => {
    const body = `{"sensorId":"s1","temperature":20,"timestamp":${T}}\r\n\n   \n{"device":"s2","metrics":{"hr":60}}\n`;
    expect(parseIngestBody(body, type, ctx)).toEqual({
      ok: true,
      events: [
        { device: 's1', tsMs: T, metrics: { temperature: 20 } },
        { device: 's2', tsMs: NOW_MS, metrics: { hr: 60 } },
      ],
    });
  });

  it('numbers issues by physical line (0-based, blank lines counted)', () => {
    const body = '{"sensorId":"s","x":1}\n\n{"sensorId":"s","x":}\n[{"sensorId":"s","x":1}]\n{"x":1}\n"text"';
    expect(parseIngestBody(body, type, ctx)).toEqual({
      ok: false,
      status: 400,
      issues: [
        { index: 2, field: '', reason: "line is not valid JSON: unexpected '}' (expected a value) at column 21" },
        { index: 3, field: '', reason: 'each line must be one JSON object, got an array (send arrays as application/json)' },
        { index: 4, field: 'device', reason: 'device is required: give sensorId, deviceId or device' },
        { index: 5, field: '', reason: 'item must be a JSON object, got a string "text"' },
      ],
    });
  });

  it('does not count blank lines against the event limit', () => {
    const small = { nowMs: NOW_MS, limits: { ...limits, maxEventsPerRequest: 2 } };
    const line = '{"sensorId":"s","x":1}';
    expect(parseIngestBody(`${line}\n\n\n${line}\n\n`, type, small).ok).toBe(true);
    expect(parseIngestBody(`${line}\n\n${line}\n\n${line}`, type, small)).toEqual({
      ok: false,
      status: 413,
      issues: [{ index: 4, field: '', reason: '3 events in one request; at most 2 (split the batch)' }],
    });
  });

  it('400 for an empty body', () => {
    expect(parseIngestBody('\n\r\n', type, ctx)).toEqual({ ok: false, status: 400, issues: [{ index: 0, field: '', reason: 'body is empty' }] });
  });
});
