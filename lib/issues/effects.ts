// The issues context's effects an issue step runs inside its own transaction (activities/issue-step.ts): assignment
// and topic subscriptions (what is published on a topic: lib/issues/topics.ts).
import { and, eq, notInArray, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { users, type Role } from '../../db/schema/auth.js';
import { topicSubscriptions } from '../../db/schema/issues.js';
import type { EffectInput, IssueEvent } from '../../workflows/statechart/catalog.js';

/** The issues context's effects an issue step runs inside its own transaction. */
export const issueEffects = {
  /** Effect `assignRandomUser`: a random active user of the role, never one named in `excludeFields`. */
  async assignRandomUser(tx: Tx, input: EffectInput<{ role: Role; excludeFields?: string[] }>): Promise<IssueEvent> {
    const excluded = (input.params.excludeFields ?? []).map((field) => input.context[field]).filter((id): id is string => typeof id === 'string');
    const [user] = await tx
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.role, input.params.role), eq(users.status, 'active'), excluded.length ? notInArray(users.id, excluded) : undefined))
      .orderBy(sql`random()`)
      .limit(1);
    return user
      ? { type: 'assignee.assigned', data: { userId: user.id, role: input.params.role } }
      : { type: 'assignee.unavailable', data: { role: input.params.role } };
  },

  async subscribe(tx: Tx, input: EffectInput<{ topic: string }>): Promise<void> {
    await tx.insert(topicSubscriptions).values({ topic: input.params.topic, issueId: input.issueId }).onConflictDoNothing();
  },

  async unsubscribe(tx: Tx, input: EffectInput<{ topic: string }>): Promise<void> {
    await tx.delete(topicSubscriptions).where(and(eq(topicSubscriptions.topic, input.params.topic), eq(topicSubscriptions.issueId, input.issueId)));
  },
};
