// The notifications context's effect an issue step runs inside its own transaction (activities/issue-step.ts):
// in-app notifications, announced to open streams on commit, and their mails left in the outbox.
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, inArray, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Transaction } from '../../db/client.js';
import { appendEvent } from '../../db/events.js';
import { roles, users } from '../../db/schema/auth.js';
import { emailDeliveries, notifications, notificationsChannel } from '../../db/schema/notifications.js';
import type { Logger } from '../logger.js';
import type { Mailer } from '../mailer.js';

const NotifyInput = z.object({
  key: z.string().min(1).max(500),
  userIds: z.array(z.uuid()).optional(),
  roles: z.array(z.enum(roles)).optional(),
  kind: z.string().min(1).max(100),
  title: z.string().min(1).max(500),
  body: z.string().max(20_000),
  issueId: z.uuid().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** Whether a string anywhere in the value holds U+0000, which PostgreSQL text and jsonb cannot store. */
const holdsNul = (value: unknown): boolean =>
  typeof value === 'string'
    ? value.includes('\u0000')
    : typeof value === 'object' && value !== null && Object.entries(value).some(([key, child]) => key.includes('\u0000') || holdsNul(child));

/** A malformed input is a bug in the caller: retrying cannot fix it. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, activity: string): z.infer<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success && !holdsNul(parsed.data)) return parsed.data;
  const problem = parsed.success
    ? 'contains the NUL character'
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(input)'}: ${issue.message}`).join('; ');
  throw ApplicationFailure.create({ type: 'Notifications.InvalidInput', message: `${activity}: ${problem}`, nonRetryable: true });
}

export type NotifyInput = z.input<typeof NotifyInput>;

/**
 * Records an in-app notification for each recipient inside the caller's transaction, announces it to their
 * open SSE streams on commit, and leaves one e-mail per recipient in the outbox (`pending` deliveries) for
 * `deliverMails`; without SMTP the mails are only logged, so they are recorded as such at once and nothing
 * is left to deliver. Idempotent: `key` is unique per recipient, so a retried step records and mails once.
 * Unknown and deactivated users are skipped: they can neither read nor should be mailed.
 * Answers the recipients and the keys of the mails left to deliver (on a retry too: delivery skips what went out).
 */
export async function recordNotification(
  tx: Transaction,
  input: NotifyInput,
  mailer: Mailer,
  log: Logger,
): Promise<{ recipients: string[]; mailKeys: string[] }> {
  const { key, userIds = [], roles: recipientRoles = [], kind, title, body, issueId, data = {} } = parseInput(NotifyInput, input, 'notify');
  if (userIds.length === 0 && recipientRoles.length === 0) return { recipients: [], mailKeys: [] };
  const recipients = await tx
    .select({ id: users.id, email: users.email })
    .from(users)
    .where(
      and(
        eq(users.status, 'active'),
        or(userIds.length > 0 ? inArray(users.id, userIds) : undefined, recipientRoles.length > 0 ? inArray(users.role, recipientRoles) : undefined),
      ),
    );
  if (recipients.length === 0) return { recipients: [], mailKeys: [] };
  const recorded = await tx
    .insert(notifications)
    .values(recipients.map((user) => ({ userId: user.id, kind, title, body, issueId, data, key })))
    .onConflictDoNothing({ target: [notifications.userId, notifications.key] })
    .returning({ id: notifications.id, userId: notifications.userId });
  for (const { id, userId } of recorded) {
    await appendEvent(tx, { name: 'notification.sent', version: 1, producer: 'notifications', data: { id, userId, kind, key, issueId: issueId ?? null } });
  }
  if (recorded.length > 0) {
    // NOTIFY inside the transaction is delivered on commit, and only then: the API never hears of a
    // notification it cannot read yet, and a committed one is always announced.
    await tx
      .select({ announced: sql`pg_notify(${notificationsChannel}, json_build_object('userId', ${notifications.userId}, 'id', ${notifications.id})::text)` })
      .from(notifications)
      .where(inArray(notifications.id, recorded.map((row) => row.id)));
  }
  // One mail per recipient, so no one sees the others' addresses; each is delivered (and retried) on its own.
  const logged = mailer.transport === 'log';
  const mails = recipients.map((user) => ({
    key: `notification:${key}:${user.id}`,
    recipients: [user.email],
    subject: title,
    body,
    status: logged ? ('logged' as const) : ('pending' as const),
    // An attempt counts when it reaches the mailer: an outbox row has had none yet.
    attempts: logged ? 1 : 0,
    sentAt: logged ? new Date() : null,
  }));
  const written = await tx.insert(emailDeliveries).values(mails).onConflictDoNothing({ target: emailDeliveries.key }).returning({ key: emailDeliveries.key });
  if (logged && written.length > 0) log.info(`${written.length} mails (no SMTP_URL, not sent), e.g. to ${mails[0]!.recipients.join(', ')}: ${title}`);
  return { recipients: recipients.map((user) => user.id), mailKeys: logged ? [] : mails.map((mail) => mail.key) };
}
