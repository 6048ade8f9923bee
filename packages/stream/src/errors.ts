import { defineErrors } from '@strata/core';

/**
 * The stream's error catalogue. 4xx: the caller asked for something wrong (do not retry as is);
 * 5xx: the stream cannot serve now (retry later, or an operator must act for CORRUPT/LOCKED).
 * Keep README.md's "Errors" section in step (errors.test.ts checks it).
 */
export const streamErrors = defineErrors({
  STRATA_ERR_STREAM_FULL: { status: 503, message: 'stream {topic} cannot take more data now: {reason}' },
  STRATA_ERR_STREAM_CLOSED: { status: 503, message: 'the stream is closed' },
  STRATA_ERR_STREAM_UNKNOWN_TOPIC: { status: 404, message: 'topic {topic} does not exist' },
  STRATA_ERR_STREAM_BAD_PARTITION: { status: 400, message: 'topic {topic} has no partition {partition}' },
  STRATA_ERR_STREAM_BAD_TOPIC_NAME: { status: 400, message: 'topic name {topic} must match [a-z0-9._-]{1,64}' },
  STRATA_ERR_STREAM_BAD_CONFIG: { status: 400, message: 'invalid stream option {option}: {reason}' },
  STRATA_ERR_STREAM_BAD_RECORD: { status: 400, message: 'record {index} cannot be appended to {topic}: {reason}' },
  STRATA_ERR_STREAM_NOT_ASSIGNED: { status: 409, message: 'partition {partition} of {topic} is no longer assigned to this member of group {group}' },
  STRATA_ERR_STREAM_CORRUPT: { status: 500, message: 'corrupt record in {file} at byte {position}: {reason}' },
  STRATA_ERR_STREAM_LOCKED: { status: 500, message: 'stream directory {dir} is in use by process {pid}' },
  STRATA_ERR_STREAM_IO: { status: 503, message: 'stream I/O failed on {topic}/{partition}: {reason}' },
});
