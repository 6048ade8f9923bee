export { KeyStore, presentedKey } from './key-store.js';
export type { KeyInfo, CreateKeyRequest } from './key-store.js';
export { ensureAdminKey } from './admin-key.js';
export { SCOPES, isScope, hasScope } from './scopes.js';
export type { Scope, Principal } from './scopes.js';
export { authErrors } from './errors.js';
export { installAuthHook } from './fastify.js';
