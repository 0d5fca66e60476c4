// Notifications context's activities: mail delivery with a record per key (notifications, billing), the outbox's
// delivery after a step, and the in-app notification as an activity of its own (lib/notifications/effects.ts).
import { createHash } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { emailDeliveries, type EmailDeliveryStatus } from '../db/schema/notifications.js';
import { transaction } from '../db/client.js';
import { getMailer, type Mail } from '../lib/mailer.js';
import { parseInput, recordNotification, type NotifyInput } from '../lib/notifications/effects.js';
import type { ActivityDeps } from './deps.js';

const SendEmailInput = z.object({
  key: z.string().min(1).max(500),
  to: z.array(z.email()),
  subject: z.string().min(1).max(500),
  text: z.string(),
});

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
