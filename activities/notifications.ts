import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, inArray, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import { appendEvent } from '../db/events.js';
import { roles, users } from '../db/schema/auth.js';
import { emailDeliveries, notifications, notificationsChannel, type EmailDeliveryStatus } from '../db/schema/notifications.js';
import { transaction, type Transaction } from '../db/client.js';
import type { Logger } from '../lib/logger.js';
import { getMailer, type Mail, type Mailer } from '../lib/mailer.js';
import type { ActivityDeps } from './deps.js';

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

const SendEmailInput = z.object({
  key: z.string().min(1).max(500),
  to: z.array(z.email()),
  subject: z.string().min(1).max(500),
  text: z.string(),
});

/** Whether a string anywhere in the value holds U+0000, which PostgreSQL text and jsonb cannot store. */
const holdsNul = (value: unknown): boolean =>
  typeof value === 'string'
    ? value.includes('\u0000')
    : typeof value === 'object' && value !== null && Object.entries(value).some(([key, child]) => key.includes('\u0000') || holdsNul(child));

/** A malformed input is a bug in the caller: retrying cannot fix it. */
function parseInput<T extends z.ZodType>(schema: T, input: unknown, activity: string): z.infer<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success && !holdsNul(parsed.data)) return parsed.data;
  const problem = parsed.success
    ? 'contains the NUL character'
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(input)'}: ${issue.message}`).join('; ');
  throw ApplicationFailure.create({ type: 'Notifications.InvalidInput', message: `${activity}: ${problem}`, nonRetryable: true });
}

/** The same key always makes the same Message-ID: a mail sent twice after a crash is one mail to its reader. */
const messageIdOf = (key: string) => `<${createHash('sha256').update(key).digest('hex').slice(0, 32)}@ates>`;

/** E-mail delivery with a record per key, shared by every context that mails (notifications, billing). */
export function createMailDelivery({ database: { db }, config, log }: Pick<ActivityDeps, 'database' | 'config' | 'log'>) {
  /**
   * Sends the mail unless the delivery under `key` already went out (or was logged), and records the outcome.
   * One attempt at a time per key: the attempt holds a lock on the key in its transaction, so a second
   * attempt (a retry overlapping a stale run) waits its turn and then finds the mail sent. A crash releases
   * the lock with the connection. At least once towards the SMTP server: a crash between its acceptance and
   * our record sends it again, with the same Message-ID, so mail clients show it once.
   */
  async function deliver(key: string, mail: Mail): Promise<void> {
    const mailer = getMailer(config.mail, log);
    const failure = await transaction(db, 'notifications.mail.deliver', async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('ates.mail'), hashtext(${key}))`);
      const [previous] = await tx.select({ status: emailDeliveries.status }).from(emailDeliveries).where(eq(emailDeliveries.key, key));
      if (previous && (previous.status === 'sent' || previous.status === 'logged')) return undefined;
      const record = (outcome: { status: EmailDeliveryStatus; error: string | null; sentAt: Date | null }) =>
        tx
          .insert(emailDeliveries)
          .values({ key, recipients: mail.to, subject: mail.subject, body: mail.text, ...outcome })
          .onConflictDoUpdate({
            target: emailDeliveries.key,
            set: { ...outcome, attempts: sql`${emailDeliveries.attempts} + 1`, updatedAt: new Date() },
          });
      let rejected: string[];
      try {
        ({ rejected } = await mailer.send({ ...mail, messageId: messageIdOf(key) }));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        await record({ status: 'failed', error: message, sentAt: null });
        return message;
      }
      await record({
        status: mailer.transport === 'smtp' ? 'sent' : 'logged',
        // Refused addresses will not be accepted on a retry either; the accepted ones must not get it twice.
        error: rejected.length > 0 ? `refused by the SMTP server: ${rejected.join(', ')}` : null,
        sentAt: new Date(),
      });
      return undefined;
    });
    // A plain Error: Temporal retries the activity, and the retry skips whatever was already delivered.
    if (failure) throw new Error(`mail ${key} to ${mail.to.join(', ')} failed: ${failure}`);
  }

  /**
   * Delivers many mails, skipping keys already delivered. Without SMTP they are only logged, so they are
   * recorded in one statement (a day close may mail a million payouts); through SMTP a few go at once.
   */
  async function deliverMany(mails: { key: string; mail: Mail }[]): Promise<void> {
    if (mails.length === 0) return;
    const done = await db
      .select({ key: emailDeliveries.key })
      .from(emailDeliveries)
      .where(and(inArray(emailDeliveries.key, mails.map((m) => m.key)), inArray(emailDeliveries.status, ['sent', 'logged'])));
    const skip = new Set(done.map((row) => row.key));
    const due = mails.filter((m) => !skip.has(m.key));
    if (getMailer(config.mail, log).transport === 'log') {
      if (due.length === 0) return;
      log.info(`${due.length} mails (no SMTP_URL, not sent), e.g. to ${due[0]!.mail.to.join(', ')}: ${due[0]!.mail.subject}`);
      // In chunks: one statement may bind at most 65 535 parameters (six per row here).
      for (let from = 0; from < due.length; from += 5000) {
        await db
          .insert(emailDeliveries)
          .values(due.slice(from, from + 5000).map(({ key, mail }) => ({ key, recipients: mail.to, subject: mail.subject, body: mail.text, status: 'logged' as const, sentAt: new Date() })))
          .onConflictDoUpdate({ target: emailDeliveries.key, set: { status: 'logged', error: null, attempts: sql`${emailDeliveries.attempts} + 1`, updatedAt: new Date() } });
      }
      return;
    }
    const queue = [...due];
    const failures: unknown[] = [];
    const sender = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await deliver(next.key, next.mail).catch((error: unknown) => failures.push(error));
    };
    await Promise.all(Array.from({ length: 4 }, sender));
    if (failures.length > 0) throw failures[0];
  }

  return { deliver, deliverMany };
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

export function createNotificationActivities(deps: ActivityDeps) {
  const { db } = deps.database;
  const { deliver } = createMailDelivery(deps);

  /** Delivers the outbox mails under `keys` that are not delivered yet; each is retried until it goes out. */
  async function deliverMails(input: { keys: string[] }): Promise<void> {
    if (input.keys.length === 0) return;
    const due = await db
      .select()
      .from(emailDeliveries)
      .where(and(inArray(emailDeliveries.key, input.keys), inArray(emailDeliveries.status, ['pending', 'failed'])));
    const mails = await Promise.allSettled(due.map((row) => deliver(row.key, { to: row.recipients, subject: row.subject, text: row.body })));
    const failed = mails.find((mail): mail is PromiseRejectedResult => mail.status === 'rejected');
    if (failed) throw failed.reason;
  }

  return {
    deliverMails,

    /** `recordNotification` and `deliverMails` as one activity, for issues started before steps ran in one transaction. */
    async notify(input: NotifyInput): Promise<{ recipients: string[] }> {
      const { recipients, mailKeys } = await transaction(db, 'notifications.notify', (tx) => recordNotification(tx, input, getMailer(deps.config.mail, deps.log), deps.log));
      await deliverMails({ keys: mailKeys });
      return { recipients };
    },

    /** Sends one e-mail (used by billing for payouts and the daily report); idempotent on `key`. */
    async sendEmail(input: { key: string; to: string[]; subject: string; text: string }): Promise<void> {
      const { key, to, subject, text } = parseInput(SendEmailInput, input, 'sendEmail');
      if (to.length === 0) return;
      await deliver(key, { to, subject, text });
    },
  };
}
