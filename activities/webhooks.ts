// Webhook delivery (notifications context): the domain event log is the outbox; each subscription reads it after
// its own cursor and posts each matching event, signed the Standard Webhooks way, one at a time and in order.
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { transaction, type Transaction } from '../db/client.js';
import { domainEvents } from '../db/schema/platform.js';
import { webhookDeliveries, webhookSubscriptions, type WebhookDeliveryOutcome, type WebhookSubscriptionRow } from '../db/schema/notifications.js';
import type { WebhookRetrySchedule } from '../lib/config.js';
import type { ActivityDeps } from './deps.js';
import { stableUuid } from '../lib/ids.js';

/**
 * Waiting for new events: the activity polls the log every `pollEveryMs` while heartbeating, for up to `pollForMs`,
 * then returns so the workflow's history records progress. A poll is one index range scan on (tx_id, seq) from the
 * cursor, cheap next to an issue step. NOTIFY was the alternative, but it would put PostgreSQL's commit-time
 * notification lock into every transaction that writes an event (every issue step) to save these reads.
 */
const pollEveryMs = 1000;
const pollForMs = 2 * 60_000;
/** Events read per poll: matching ones are delivered, the rest only move the cursor. */
const scanBatch = 500;
/** A receiver that has not answered by then has failed this attempt. */
const requestTimeoutMs = 10_000;

/** The Standard Webhooks `webhook-id`: one per event and subscription, the same on every attempt, so receivers can dedupe. */
const webhookMessageId = (subscriptionId: string, eventId: string) => `msg_${stableUuid(`webhook:${subscriptionId}:${eventId}`).replaceAll('-', '')}`;

type LogEvent = {
  seq: number;
  id: string;
  name: string;
  occurredAt: string;
  data: Record<string, unknown>;
  txId: string;
};

interface Attempt {
  outcome: Exclude<WebhookDeliveryOutcome, 'gave_up'>;
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

export interface WebhookRound {
  /** `idle`: delivered what there was and waited for more; `stuck`: the event `eventSeq` failed and waits for its retries; `deleted`: the subscription is gone. */
  outcome: 'idle' | 'stuck' | 'deleted';
  eventSeq?: number;
  /** The schedule this worker is configured with, so a changed setting applies from the next retried event on. */
  retry: WebhookRetrySchedule;
}

/** The body Standard Webhooks recommends: the event's type, when it occurred, and its data. */
const webhookPayload = (event: Pick<LogEvent, 'name' | 'occurredAt' | 'data'>) =>
  JSON.stringify({ type: event.name, timestamp: event.occurredAt, data: event.data });

// `seq` as a JavaScript number (postgres.js answers bigint as text); the cursor keeps the transaction id as text.
const eventColumns = sql`seq::float8 as seq, id, name, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "occurredAt", data, tx_id::text as "txId"`;

export function createWebhookActivities(deps: ActivityDeps) {
  const { db } = deps.database;

  const subscription = async (id: string) => (await db.select().from(webhookSubscriptions).where(eq(webhookSubscriptions.id, id)))[0];

  /**
   * The next events after the cursor, in log order (transaction, then seq), of transactions below the oldest one
   * still in flight: those are final, so no event can later appear before the cursor. Answers the matching events and
   * the last event read, which the cursor may skip to once everything before it was delivered.
   */
  async function nextEvents(sub: WebhookSubscriptionRow): Promise<{ matching: LogEvent[]; last?: LogEvent }> {
    const rows = await db.execute<LogEvent>(sql`
      select ${eventColumns} from ${domainEvents}
      where (tx_id, seq) > (${sub.cursorTxId}::xid8, ${sub.cursorSeq}::bigint)
        and tx_id < pg_snapshot_xmin(pg_current_snapshot())
      order by tx_id, seq
      limit ${scanBatch}`);
    const types = new Set(sub.eventTypes);
    return { matching: rows.filter((event) => types.has(event.name)), last: rows.at(-1) };
  }

  /** One signed POST; never throws: what happened is the attempt's record. */
  async function post(sub: WebhookSubscriptionRow, event: LogEvent): Promise<Attempt> {
    const payload = webhookPayload(event);
    const messageId = webhookMessageId(sub.id, event.id);
    const sentAt = new Date();
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'aTES-Webhooks/1',
      'webhook-id': messageId,
      'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
      'webhook-signature': new Webhook(sub.secret).sign(messageId, sentAt, payload),
    };
    const started = performance.now();
    try {
      // Redirects are not followed: the subscription names where events go.
      const response = await fetch(sub.url, { method: 'POST', headers, body: payload, redirect: 'manual', signal: AbortSignal.timeout(requestTimeoutMs) });
      await response.body?.cancel();
      const durationMs = Math.round(performance.now() - started);
      const ok = response.status >= 200 && response.status < 300;
      return { outcome: ok ? 'succeeded' : 'failed', httpStatus: response.status, error: ok ? null : `HTTP ${response.status}`, durationMs };
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      return { outcome: 'failed', httpStatus: null, error: `${error instanceof Error ? error.message : String(error)}${cause}`, durationMs: Math.round(performance.now() - started) };
    }
  }

  /**
   * Records an attempt (or the give-up) of `event` under a lock of the subscription; a success or give-up also
   * moves the cursor to the event in the same transaction, so a crash after delivery resends at most that event.
   * False when the subscription was deleted meanwhile (nothing recorded).
   */
  async function record(subscriptionId: string, event: LogEvent, attempt: Attempt | { outcome: 'gave_up'; error: string }): Promise<boolean> {
    return transaction(db, 'webhook.attempt', async (tx: Transaction) => {
      const [locked] = await tx.select({ id: webhookSubscriptions.id }).from(webhookSubscriptions).where(eq(webhookSubscriptions.id, subscriptionId)).for('update');
      if (!locked) return false;
      const attempts = await tx.$count(webhookDeliveries, and(eq(webhookDeliveries.subscriptionId, subscriptionId), eq(webhookDeliveries.eventId, event.id)));
      await tx.insert(webhookDeliveries).values({
        subscriptionId,
        eventId: event.id,
        eventSeq: event.seq,
        messageId: webhookMessageId(subscriptionId, event.id),
        attempt: attempts + 1,
        outcome: attempt.outcome,
        httpStatus: 'httpStatus' in attempt ? attempt.httpStatus : null,
        error: attempt.error,
        durationMs: 'durationMs' in attempt ? attempt.durationMs : 0,
      });
      if (attempt.outcome !== 'failed') await moveCursor(tx, subscriptionId, event);
      return true;
    });
  }

  /** Moves the cursor forward to `event`; never back (a stale attempt finishing late changes nothing). */
  const moveCursor = (tx: Transaction | typeof db, subscriptionId: string, event: Pick<LogEvent, 'txId' | 'seq'>) =>
    tx
      .update(webhookSubscriptions)
      .set({ cursorTxId: event.txId, cursorSeq: event.seq })
      .where(
        and(
          eq(webhookSubscriptions.id, subscriptionId),
          sql`(${webhookSubscriptions.cursorTxId}, ${webhookSubscriptions.cursorSeq}) < (${event.txId}::xid8, ${event.seq}::bigint)`,
        ),
      );

  /** The event `seq` if the subscription has not moved past it yet (an earlier attempt may have delivered it). */
  async function pendingEvent(sub: WebhookSubscriptionRow, seq: number): Promise<LogEvent | undefined> {
    const [event] = await db.execute<LogEvent>(sql`
      select ${eventColumns} from ${domainEvents}
      where seq = ${seq} and (tx_id, seq) > (${sub.cursorTxId}::xid8, ${sub.cursorSeq}::bigint)`);
    return event;
  }

  const retrySchedule = () => deps.config.webhooks.retry;

  return {
    /**
     * Delivers the subscription's events after its cursor one by one, in order, and waits for more (see `pollForMs`).
     * The first failed attempt is recorded and answered as `stuck`: the workflow retries that event on its backoff
     * schedule before anything later goes out.
     */
    async deliverWebhooks({ subscriptionId }: { subscriptionId: string }): Promise<WebhookRound> {
      const context = Context.current();
      const until = Date.now() + pollForMs;
      for (;;) {
        context.heartbeat();
        const sub = await subscription(subscriptionId);
        if (!sub) return { outcome: 'deleted', retry: retrySchedule() };
        const { matching, last } = await nextEvents(sub);
        for (const event of matching) {
          context.heartbeat();
          const attempt = await post(sub, event);
          if (!(await record(subscriptionId, event, attempt))) return { outcome: 'deleted', retry: retrySchedule() };
          if (attempt.outcome === 'failed') return { outcome: 'stuck', eventSeq: event.seq, retry: retrySchedule() };
          // A steady stream of events still ends the round in time (the next round goes on from the cursor).
          if (Date.now() >= until) return { outcome: 'idle', retry: retrySchedule() };
        }
        // Events read that nobody subscribed to: the cursor skips them so the next poll does not read them again.
        if (last) await moveCursor(db, subscriptionId, last);
        if (Date.now() >= until) return { outcome: 'idle', retry: retrySchedule() };
        if (last) continue;
        await sleep(pollEveryMs, undefined, { signal: context.cancellationSignal }).catch(() => {});
        if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
      }
    },

    /**
     * One more attempt at the event that got the subscription stuck. A failure is recorded and thrown, so the
     * activity's retry policy backs off; its schedule-to-close ends the retries (the workflow then gives up).
     */
    async redeliverWebhookEvent({ subscriptionId, eventSeq }: { subscriptionId: string; eventSeq: number }): Promise<void> {
      const sub = await subscription(subscriptionId);
      if (!sub) return;
      const event = await pendingEvent(sub, eventSeq);
      if (!event || !sub.eventTypes.includes(event.name)) return;
      const attempt = await post(sub, event);
      if (!(await record(subscriptionId, event, attempt))) return;
      if (attempt.outcome === 'failed') {
        throw ApplicationFailure.create({ type: 'Webhook.DeliveryFailed', message: `${event.name} ${event.id} to ${sub.url}: ${attempt.error}` });
      }
    },

    /** Records that the event's retry window ended without a delivery, and moves the cursor past it. */
    async giveUpWebhookEvent({ subscriptionId, eventSeq, reason }: { subscriptionId: string; eventSeq: number; reason: string }): Promise<void> {
      const sub = await subscription(subscriptionId);
      if (!sub) return;
      const event = await pendingEvent(sub, eventSeq);
      if (!event) return;
      await record(subscriptionId, event, { outcome: 'gave_up', error: reason.slice(0, 2000) });
      deps.log.warn(`webhook ${subscriptionId}: gave up ${event.name} ${event.id} (${reason})`);
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
