/**
 * The `scoring` role as the platform composes it: the active version of `ml.model` from the model
 * registry (artifacts in the object store, rows in the database), scored by `createOnlineScorer`.
 */
import type { StrataConfig } from '@strata/config';
import type { Db } from '@strata/db';
import { createOnlineScorer, ModelRegistry, type MlDb } from '@strata/ml';
import type { OutboxPublisher } from '@strata/rules';
import type { ObjectStore } from '@strata/storage';
import type { Stream } from '@strata/stream';
import type { Logger } from 'pino';
import { startScoring, type ScoringRole } from './scoring.js';

export async function startScoringRole(
  config: StrataConfig,
  deps: { db: Db; stream: Stream; store: ObjectStore; topic: string; predictionsTopic: string; publisher?: OutboxPublisher },
  logger: Logger,
): Promise<ScoringRole> {
  // Polled every ml.refreshSeconds: the registry's own cache would only delay a switch further.
  const models = new ModelRegistry({ db: deps.db.kysely as unknown as MlDb, store: deps.store, maxAgeMs: 0 });
  return startScoring({
    db: deps.db,
    stream: deps.stream,
    topic: deps.topic,
    predictionsTopic: deps.predictionsTopic,
    ...(deps.publisher && { publisher: deps.publisher }),
    loadActive: async () => {
      const m = await models.activeOrNone(config.ml.model);
      return m && { name: m.record.name, version: m.record.version, artifact: m.artifact };
    },
    createScorer: (artifact, opts) => createOnlineScorer(artifact, opts),
    refreshMs: Math.round(config.ml.refreshSeconds * 1000),
    driftThreshold: config.ml.driftThreshold,
    driftWindow: config.ml.driftWindow,
    logger,
  });
}
