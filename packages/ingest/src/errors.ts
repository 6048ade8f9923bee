import { defineErrors } from '@strata/core';

export const ingestErrors = defineErrors({
  STRATA_ERR_INGEST_INVALID: { status: 400, message: '{count} invalid item(s); nothing from this request was written' },
  STRATA_ERR_INGEST_TOO_LARGE: { status: 413, message: 'request too large: {reason}' },
  STRATA_ERR_INGEST_MEDIA_TYPE: { status: 415, message: 'unsupported content type: {reason}' },
  STRATA_ERR_INGEST_UNKNOWN_DEVICE: { status: 403, message: 'device {device} is not registered (this deployment only takes data from devices created through the API); nothing from this request was written' },
  STRATA_ERR_INGEST_UNAVAILABLE: { status: 503, message: 'ingest cannot take data now: {reason}; retry later' },
  STRATA_ERR_INGEST_MQTT_TOPIC: { status: 403, message: 'topic {topic} is not allowed: {reason}' },
  STRATA_ERR_INGEST_MQTT_BAD_CONFIG: { status: 400, message: 'invalid MQTT option {option}: {reason}' },
  STRATA_ERR_INGEST_MQTT_CONNECT: { status: 503, message: 'MQTT bridge cannot use broker {url}: {reason}' },
});
