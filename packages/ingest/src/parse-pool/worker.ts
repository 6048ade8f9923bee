// A parse worker: runs prepareBatch off the main thread and sends the records back as columns.
import { parentPort } from 'node:worker_threads';
import { prepareBatch, type PrepareContext } from '../prepare.js';
import { toColumns } from './columns.js';

export interface PrepareJob {
  id: number;
  body: Uint8Array;
  contentType: string | undefined;
  ctx: PrepareContext;
}

parentPort!.on('message', (job: PrepareJob) => {
  const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
  const prepared = prepareBatch(body, job.contentType, job.ctx);
  if (!prepared.ok) {
    parentPort!.postMessage({ id: job.id, prepared });
    return;
  }
  const { columns, transfer } = toColumns(prepared.records);
  parentPort!.postMessage({ id: job.id, columns, bytes: prepared.bytes }, transfer);
});
