// Issue migrations: which running issues of a type version a migration moves to another version.
import { and, eq, gt, inArray } from 'drizzle-orm';
import { issues, type IssueMigrationFilter } from '../../db/schema/issues.js';

/** Which running issues a migration moves (after `after`): what the API checks the mapping against, and the batches move. */
export function migrationSelection(migration: { typeKey: string; fromVersion: number; filter: IssueMigrationFilter }, after?: string) {
  const { filter } = migration;
  return and(
    eq(issues.typeKey, migration.typeKey),
    eq(issues.typeVersion, migration.fromVersion),
    eq(issues.status, 'active'),
    filter.state === undefined ? undefined : eq(issues.state, filter.state),
    filter.assigneeId === undefined ? undefined : eq(issues.assigneeId, filter.assigneeId),
    filter.issueIds === undefined ? undefined : inArray(issues.id, filter.issueIds),
    after ? gt(issues.id, after) : undefined,
  );
}
