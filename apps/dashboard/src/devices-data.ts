import { api, qs } from './api/client';
import type { Device, DeviceKind } from './api/types';

/** Every device the caller may see (of one kind), a page of 1,000 at a time. */
export async function allDevices(signal: AbortSignal, kind?: DeviceKind): Promise<Device[]> {
  const out: Device[] = [];
  let cursor: string | undefined;
  do {
    const page = await api<{ devices: Device[]; nextCursor?: string }>(`/v1/devices${qs({ limit: 1000, kind, cursor })}`, { signal });
    out.push(...page.devices);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

export const ONLINE_WITHIN_MS = 5 * 60_000;

export function statusOf(d: Device, now = Date.now()): 'online' | 'offline' | 'never' {
  if (!d.lastSeen) return 'never';
  return now - Date.parse(d.lastSeen) <= ONLINE_WITHIN_MS ? 'online' : 'offline';
}
