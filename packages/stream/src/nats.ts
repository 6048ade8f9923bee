/**
 * The NATS JetStream engine, on an entry of its own (`@strata/stream/nats`): processes on the
 * embedded stream (and every CLI command) do not load the NATS client.
 */
export { openNatsStream, NATS_DEFAULTS, type NatsStream, type NatsStreamOptions } from './engines/nats/engine.js';
