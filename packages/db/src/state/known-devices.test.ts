import { afterEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDb } from '../testing.js';
import { createDevice } from '../telemetry-queries.js';
import { KnownDevices } from './known-devices.js';
import { memoryLogger, until } from './test-support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function db(): Promise<TestDb> {
  const d = await openTestDatabase();
  cleanups.push(() => d.dispose().catch(() => undefined));
  return d;
}

describe('KnownDevices', () => {
  it('answers from the devices table, picks up new devices on refresh, and knows added ones at once', async () => {
    const d = await db();
    await createDevice(d.kysely, { id: 'bed-1', kind: 'patient' });
    const known = await KnownDevices.open({ db: d, refreshMs: 20 });
    cleanups.push(() => known.close());
    expect(known.has('bed-1')).toBe(true);
    expect(known.has('bed-2')).toBe(false);

    await createDevice(d.kysely, { id: 'bed-2', kind: 'patient' });
    await until(() => known.has('bed-2'), 5000, 'the periodic refresh');

    known.add('pump-9'); // created by this process, not yet in the table
    expect(known.has('pump-9')).toBe(true);
  });

  it('keeps an id added while a reload was reading an older snapshot', async () => {
    const d = await db();
    const known = await KnownDevices.open({ db: d, refreshMs: 0 });
    const reload = known.refresh();
    known.add('late');
    await reload;
    expect(known.has('late')).toBe(true);
  });

  it('keeps the last loaded set while the database is down, warning once', async () => {
    const d = await db();
    await createDevice(d.kysely, { id: 'm-1', kind: 'machine' });
    const logger = memoryLogger();
    const known = await KnownDevices.open({ db: d, refreshMs: 0, logger });
    await d.close();
    await known.refresh();
    await known.refresh();
    expect(known.has('m-1')).toBe(true);
    expect(known.size).toBe(1);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
  });
});
