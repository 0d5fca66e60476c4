import { eq } from 'drizzle-orm';
import { hashPassword } from '../lib/password.js';
import type { Db } from './client.js';
import { appendEvent } from './events.js';
import { users, type Role, type UserRow, type UserStatus } from './schema/auth.js';

export type PublicUser = Omit<UserRow, 'passwordHash'>;

export const toPublicUser = ({ passwordHash: _, ...user }: UserRow): PublicUser => user;

const eventData = (user: UserRow) => ({ id: user.id, name: user.name, email: user.email, role: user.role, status: user.status });

export class EmailTakenError extends Error {
  constructor(readonly email: string) {
    super(`a user with email ${email} already exists`);
  }
}

export async function createUser(
  db: Db,
  input: { name: string; email: string; role: Role; password: string },
): Promise<PublicUser> {
  const passwordHash = await hashPassword(input.password);
  return db.transaction(async (tx) => {
    const [user] = await tx
      .insert(users)
      .values({ name: input.name, email: input.email.toLowerCase(), role: input.role, passwordHash })
      .onConflictDoNothing({ target: users.email })
      .returning();
    if (!user) throw new EmailTakenError(input.email);
    await appendEvent(tx, { name: 'user.created', version: 1, producer: 'auth', data: eventData(user) });
    return toPublicUser(user);
  });
}

export async function updateUser(
  db: Db,
  id: string,
  changes: { name?: string; role?: Role; status?: UserStatus },
): Promise<PublicUser | undefined> {
  return db.transaction(async (tx) => {
    const [user] = await tx
      .update(users)
      .set({ ...changes, updatedAt: new Date() })
      .where(eq(users.id, id))
      .returning();
    if (!user) return undefined;
    await appendEvent(tx, { name: 'user.updated', version: 1, producer: 'auth', data: eventData(user) });
    return toPublicUser(user);
  });
}
