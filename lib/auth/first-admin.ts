import { and, eq } from 'drizzle-orm';
import { hashPassword } from './password.js';
import { transaction, type Db } from '../../db/client.js';
import { appendEvent } from '../../db/events.js';
import { users } from '../../db/schema/auth.js';
import { createUser, userEventData } from './users.js';

/**
 * Makes sure someone can manage users: unless an active admin exists, creates the configured admin, or, when a
 * user with that e-mail exists (e.g. a deactivated admin), makes them an active admin again with the configured
 * password. Answers whether it had to.
 */
export async function ensureFirstAdmin(db: Db, admin: { email: string; password: string }): Promise<boolean> {
  const [active] = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'admin'), eq(users.status, 'active')))
    .limit(1);
  if (active) return false;
  const email = admin.email.toLowerCase();
  const [existing] = await db.select({ id: users.id, oidcSubject: users.oidcSubject }).from(users).where(eq(users.email, email));
  if (!existing) {
    await createUser(db, { name: 'Administrator', email, role: 'admin', password: admin.password });
    return true;
  }
  // The first admin logs in with ADMIN_PASSWORD; a user of the identity provider has no password and never gets one.
  if (existing.oidcSubject !== null) {
    throw new Error(`ADMIN_EMAIL ${email} is the e-mail of a user of the identity provider, who signs in there only: set ADMIN_EMAIL to another address`);
  }
  const passwordHash = await hashPassword(admin.password);
  await transaction(db, 'users.first-admin', async (tx) => {
    const [user] = await tx.update(users).set({ role: 'admin', status: 'active', passwordHash, updatedAt: new Date() }).where(eq(users.id, existing.id)).returning();
    await appendEvent(tx, { name: 'user.updated', version: 1, producer: 'auth', data: userEventData(user!) });
  });
  return true;
}
