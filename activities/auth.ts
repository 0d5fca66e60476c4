import { and, eq, notInArray, sql } from 'drizzle-orm';
import { users, type Role } from '../db/schema/auth.js';
import type { ActivityDeps } from './deps.js';

export function createAuthActivities({ database: { db } }: ActivityDeps) {
  return {
    /** A random active user of the role, never one of `exclude`; undefined when there is none. */
    async pickRandomActiveUser(input: { role: Role; exclude?: string[] }): Promise<string | undefined> {
      const [user] = await db
        .select({ id: users.id })
        .from(users)
        .where(
          and(
            eq(users.role, input.role),
            eq(users.status, 'active'),
            input.exclude?.length ? notInArray(users.id, input.exclude) : undefined,
          ),
        )
        .orderBy(sql`random()`)
        .limit(1);
      return user?.id;
    },
  };
}
