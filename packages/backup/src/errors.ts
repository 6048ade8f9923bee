import { defineErrors } from '@strata/core';

/** Errors of backup, restore and verify. 4xx: fix the command or the backup; 5xx: retry may help. */
export const backupErrors = defineErrors({
  STRATA_ERR_BACKUP_BAD_TARGET: { status: 400, message: 'invalid backup location {target}: {reason}' },
  STRATA_ERR_BACKUP_NOT_FOUND: { status: 404, message: 'no backup {id} in {target}' },
  STRATA_ERR_BACKUP_NONE: { status: 404, message: 'no backups in {target}' },
  STRATA_ERR_BACKUP_MASTER_KEY: { status: 400, message: 'backup {id} does not open with this master key: {reason}' },
  STRATA_ERR_BACKUP_MANIFEST: { status: 422, message: 'backup {id}: manifest {file} is unusable: {reason}' },
  STRATA_ERR_BACKUP_CORRUPT: { status: 422, message: 'backup {id} is damaged: {files}' },
  STRATA_ERR_BACKUP_NOT_EMPTY: { status: 409, message: 'refusing to restore into a non-empty {what}: {reason}' },
  STRATA_ERR_BACKUP_SCHEMA: { status: 409, message: 'backup {id} cannot be restored into this database: {reason}' },
  STRATA_ERR_BACKUP_MISMATCH: { status: 500, message: 'restore of backup {id} does not reproduce it: {reason}' },
  STRATA_ERR_BACKUP_FAILED: { status: 500, message: 'backup failed: {reason}' },
});
