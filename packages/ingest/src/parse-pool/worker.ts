// A parse worker: runs prepareColumns off the main thread and sends the records back as columns.
import { parentPort } from 'node:worker_threads';
import { prepareColumns, type PrepareContext } from '../prepare.js';

export interface PrepareJob {
  id: number;
  body: Uint8Array;
  contentType: string | undefined;
  ctx: PrepareContext;
}

parentPort!.on('message', (job: PrepareJob) => {
  const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
  const prepared = prepareColumns(body, job.contentType, job.ctx);
  if (!prepared.ok) {
    parentPort!.postMessage({ id: job.id, prepared });
    return;
  }
  const { columns, bytes } = prepared;
  parentPort!.postMessage({ id: job.id, columns, bytes }, [columns.values.buffer, columns.ends.buffer, columns.ts.buffer]);
});
