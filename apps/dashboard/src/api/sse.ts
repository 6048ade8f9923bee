/**
 * Server-Sent Events read with fetch, so the access token goes in the Authorization header (an
 * EventSource cannot send headers, and tokens do not go in URLs). Reconnects after a drop (the
 * server ends a stream when the access token it was opened with expires: the next one opens
 * with the refreshed token). Callers catch up on what they missed through the REST API.
 */
import { session } from './client';

export interface SseEvent {
  event: string;
  data: string;
}

export function openEventStream(path: string, onEvent: (e: SseEvent) => void, opts: { onOpen?: () => void; retryMs?: number } = {}): () => void {
  const controller = new AbortController();
  let closed = false;
  const retryMs = opts.retryMs ?? 2000;

  const run = async (): Promise<void> => {
    while (!closed) {
      try {
        let res = await fetch(path, { headers: { accept: 'text/event-stream', ...(await session.header()) }, signal: controller.signal });
        if (res.status === 401 && (await session.refresh())) res = await fetch(path, { headers: { accept: 'text/event-stream', ...(await session.header()) }, signal: controller.signal });
        if (res.status === 401) {
          await session.logout();
          return;
        }
        if (!res.ok || !res.body) throw new Error(`event stream ${path}: ${res.status}`);
        opts.onOpen?.();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length > 0) onEvent({ event, data: data.join('\n') });
          }
        }
      } catch {
        if (closed) return;
      }
      if (!closed) await new Promise((r) => setTimeout(r, retryMs));
    }
  };
  void run();
  return () => {
    closed = true;
    controller.abort();
  };
}
