import { createHash } from 'node:crypto';
import { and, count, eq, ne, sql } from 'drizzle-orm';
import { hashPassword } from './password.js';
import { isUniqueViolation, transaction, type Db, type Tx } from '../../db/client.js';
import { appendEvent } from '../../db/events.js';
import { users, type Role, type UserRow, type UserStatus } from '../../db/schema/auth.js';

export type PublicUser = Omit<UserRow, 'passwordHash' | 'oidcIssuer' | 'oidcSubject'>;

export const toPublicUser = ({ passwordHash: _, oidcIssuer: _issuer, oidcSubject: _subject, ...user }: UserRow): PublicUser => user;

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

/** Who a verified token of the identity provider says the caller is. */
export interface ProviderIdentity {
  issuer: string;
  subject: string;
  role: Role;
  name?: string;
  email?: string;
}

/**
 * The user a provider identity stands for, created on first sight with the same `user.created` event a local user
 * gets. Found by issuer and subject only, never by e-mail: a token naming a local user's e-mail gets a user of its
 * own, so the provider can never take over a local account. The role follows the provider's on every token
 * (`user.updated` when it changes), so an admin's role change to a provider user lasts until their next request.
 */
export async function providerUser(db: Db, identity: ProviderIdentity): Promise<PublicUser> {
  const user = (await findProviderUser(db, identity)) ?? (await createProviderUser(db, identity));
  if (user.role === identity.role || user.status !== 'active') return toPublicUser(user);
  return (await updateUser(db, user.id, { role: identity.role }))!;
}

async function findProviderUser(db: Tx, { issuer, subject }: ProviderIdentity): Promise<UserRow | undefined> {
  const [user] = await db.select().from(users).where(and(eq(users.oidcIssuer, issuer), eq(users.oidcSubject, subject)));
  return user;
}

/**
 * The token's e-mail when no other user holds it; otherwise, or without one, an address under `.invalid` (a
 * top-level domain that never resolves), unique to the identity, since every user has an e-mail.
 */
async function createProviderUser(db: Db, identity: ProviderIdentity): Promise<UserRow> {
  const digest = createHash('sha256').update(`${identity.issuer}\n${identity.subject}`).digest('hex').slice(0, 32);
  const placeholder = `provider-${digest}@ates.invalid`;
  const email = identity.email?.toLowerCase() ?? placeholder;
  try {
    return await insertProviderUser(db, identity, email);
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    // Either another request with the same identity inserted it a moment before (its e-mail index entry can clash
    // before the identity's does), or the e-mail is another user's.
    return (await findProviderUser(db, identity)) ?? (await insertProviderUser(db, identity, placeholder));
  }
}

function insertProviderUser(db: Db, identity: ProviderIdentity, email: string): Promise<UserRow> {
  return transaction(db, 'users.create-from-provider', async (tx) => {
    const [user] = await tx
      .insert(users)
      .values({ name: identity.name ?? identity.subject, email, role: identity.role, oidcIssuer: identity.issuer, oidcSubject: identity.subject })
      .onConflictDoNothing({ target: [users.oidcIssuer, users.oidcSubject] })
      .returning();
    if (!user) {
      // A concurrent first request created it; the conflict was found once that one committed, so it is visible now.
      return (await findProviderUser(tx, identity))!;
    }
    await appendEvent(tx, { name: 'user.created', version: 1, producer: 'auth', data: userEventData(user) });
    return user;
  });
}
