import { randomBytes } from 'node:crypto';
import type { Db } from './open.js';

/**
 * A deployment-wide random secret kept in `settings` (the JWT signing key, the lake's
 * pseudonymisation key): made by the first process that needs it, the same for every process
 * and role sharing the database.
 */
export async function platformSecret(db: Db, name: 'jwt_secret' | 'lake_pseudonym_key'): Promise<Buffer> {
  await db.kysely
    .insertInto('settings')
    .values({ key: name, value: randomBytes(32).toString('base64url') })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const { value } = await db.kysely.selectFrom('settings').select('value').where('key', '=', name).executeTakeFirstOrThrow();
  return Buffer.from(value, 'base64url');
}
