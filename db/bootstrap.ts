import { eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { users } from './schema/auth.js';
import { createUser } from './users.js';

/** Creates the first admin unless an admin exists; answers whether it did. */
export async function ensureFirstAdmin(db: Db, admin: { email: string; password: string }): Promise<boolean> {
  const [existing] = await db.select({ id: users.id }).from(users).where(eq(users.role, 'admin')).limit(1);
  if (existing) return false;
  await createUser(db, { name: 'Administrator', email: admin.email, role: 'admin', password: admin.password });
  return true;
}
