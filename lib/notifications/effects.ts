// The notifications context's effect an issue step runs inside its own transaction (activities/issue-step.ts):
// in-app notifications, announced to open streams on commit, and their mails left in the outbox.
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Transaction } from '../../db/client.js';
import { domainEvents } from '../../db/schema/platform.js';
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
  // One mail per recipient, so no one sees the others' addresses; each is delivered (and retried) on its own.
  const logged = mailer.transport === 'log';
  const mailKeyPrefix = `notification:${key}:`;
  const listed = (values: string[]) => sql`jsonb_array_elements_text(${JSON.stringify(values)}::jsonb)`;
  // One statement: the recipients, their notifications with the `notification.sent` events, and their mails.
  // NOTIFY inside the transaction is delivered on commit, and only then: the API never hears of a notification it
  // cannot read yet, and a committed one is always announced.
  const recipients = await tx.execute<{ id: string; email: string; mailed: number }>(sql`
    with recipient as (
      select id, email from ${users}
      where status = 'active' and (id in (select value::uuid from ${listed(userIds)}) or role::text in (select value from ${listed(recipientRoles)}))
    ),
    recorded as (
      insert into ${notifications} (user_id, kind, title, body, issue_id, data, key)
      select id, ${kind}::text, ${title}::text, ${body}::text, ${issueId ?? null}::uuid, ${JSON.stringify(data)}::jsonb, ${key}::text from recipient
      on conflict (user_id, key) do nothing
      returning id, user_id, pg_notify(${notificationsChannel}::text, json_build_object('userId', user_id, 'id', id)::text)
    ),
    sent as (
      insert into ${domainEvents} (name, version, producer, data)
      select 'notification.sent', 1, 'notifications',
        jsonb_build_object('id', id, 'userId', user_id, 'kind', ${kind}::text, 'key', ${key}::text, 'issueId', ${issueId ?? null}::uuid)
      from recorded
    ),
    mailed as (
      insert into ${emailDeliveries} (key, recipients, subject, body, status, attempts, sent_at)
      select ${mailKeyPrefix}::text || id, array[email], ${title}::text, ${body}::text,
        ${logged ? 'logged' : 'pending'}::email_delivery_status,
        -- An attempt counts when it reaches the mailer: an outbox row has had none yet.
        ${logged ? 1 : 0}::int, case when ${logged}::boolean then now() end
      from recipient
      on conflict (key) do nothing
      returning key
    )
    select id::text, email, (select count(*) from mailed)::int as mailed from recipient`);
  const mailKeys = recipients.map((user) => `${mailKeyPrefix}${user.id}`);
  if (logged && recipients[0] && recipients[0].mailed > 0) log.info(`${recipients[0].mailed} mails (no SMTP_URL, not sent), e.g. to ${recipients[0].email}: ${title}`);
  return { recipients: recipients.map((user) => user.id), mailKeys: logged ? [] : mailKeys };
}
