import { and, count, eq, ne, sql } from 'drizzle-orm';
import { hashPassword } from '../lib/password.js';
import { transaction, type Db, type Tx } from './client.js';
import { appendEvent } from './events.js';
import { users, type Role, type UserRow, type UserStatus } from './schema/auth.js';

export type PublicUser = Omit<UserRow, 'passwordHash'>;

export const toPublicUser = ({ passwordHash: _, ...user }: UserRow): PublicUser => user;

export const userEventData = (user: UserRow) => ({ id: user.id, name: user.name, email: user.email, role: user.role, status: user.status });

export class EmailTakenError extends Error {
  constructor(readonly email: string) {
    super(`a user with email ${email} already exists`);
  }
}

export async function createUser(
  db: Tx,
  input: { name: string; email: string; role: Role; password: string },
): Promise<PublicUser> {
  const passwordHash = await hashPassword(input.password);
  return transaction(db, 'users.create', async (tx) => {
    const [user] = await tx
      .insert(users)
      .values({ name: input.name, email: input.email.toLowerCase(), role: input.role, passwordHash })
      .onConflictDoNothing({ target: users.email })
      .returning();
    if (!user) throw new EmailTakenError(input.email);
    await appendEvent(tx, { name: 'user.created', version: 1, producer: 'auth', data: userEventData(user) });
    return toPublicUser(user);
  });
}

/** A change that would leave no active admin: someone must always be able to manage users. */
export class LastAdminError extends Error {
  constructor() {
    super('the last active admin cannot be deactivated or demoted: make another user an admin first');
  }
}

export async function updateUser(
  db: Db,
  id: string,
  changes: { name?: string; role?: Role; status?: UserStatus },
): Promise<PublicUser | undefined> {
  return transaction(db, 'users.change', async (tx) => {
    if ((changes.role !== undefined && changes.role !== 'admin') || changes.status === 'deactivated') {
      // Changes that take admins away queue here, so two admins removing each other at once see each other's change.
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('ates.active_admins'))`);
      const [target] = await tx.select({ role: users.role, status: users.status }).from(users).where(eq(users.id, id));
      if (target?.role === 'admin' && target.status === 'active') {
        const [others] = await tx
          .select({ n: count() })
          .from(users)
          .where(and(eq(users.role, 'admin'), eq(users.status, 'active'), ne(users.id, id)));
        if (others!.n === 0) throw new LastAdminError();
      }
    }
    const [user] = await tx
      .update(users)
      .set({ ...changes, updatedAt: new Date() })
      .where(eq(users.id, id))
      .returning();
    if (!user) return undefined;
    await appendEvent(tx, { name: 'user.updated', version: 1, producer: 'auth', data: userEventData(user) });
    return toPublicUser(user);
  });
}
