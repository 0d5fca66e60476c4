import { sql } from 'drizzle-orm';
import { check, index, integer, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const roles = ['admin', 'manager', 'accountant', 'worker', 'reviewer', 'client'] as const;
export type Role = (typeof roles)[number];
export const userStatuses = ['active', 'deactivated'] as const;
export type UserStatus = (typeof userStatuses)[number];

export const roleEnum = pgEnum('role', roles);
export const userStatusEnum = pgEnum('user_status', userStatuses);

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    email: text('email').notNull().unique(),
    role: roleEnum('role').notNull(),
    status: userStatusEnum('status').notNull().default('active'),
    // scrypt$N$r$p$salt$hash, see lib/auth/password.ts; null for a user of the identity provider, who has no local password.
    passwordHash: text('password_hash'),
    // A user of the identity provider: its issuer and the token's `sub` there (both null for a local user).
    oidcIssuer: text('oidc_issuer'),
    oidcSubject: text('oidc_subject'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // Random assignment picks among active users of a role.
    index('users_active_role_idx').on(t.role).where(sql`${t.status} = 'active'`),
    // One user per provider identity, however many first requests arrive at once.
    uniqueIndex('users_oidc_identity_idx').on(t.oidcIssuer, t.oidcSubject),
    // Every user signs in one way: a local password, or the provider.
    check(
      'users_sign_in_check',
      sql`(${t.oidcIssuer} is null) = (${t.oidcSubject} is null) and (${t.passwordHash} is null) = (${t.oidcSubject} is not null)`,
    ),
  ],
);

export type UserRow = typeof users.$inferSelect;

/**
 * Consecutive failed logins per key (`account:<e-mail>` or `address:<client address>`), kept in the database so
 * every API process sees the same counts; lib/auth/login-throttle.ts owns the rules.
 */
export const loginThrottles = pgTable('login_throttles', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull().default(0),
  /** No login for the key before this instant; null or past: not blocked. */
  blockedUntil: timestamp('blocked_until', { withTimezone: true }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
