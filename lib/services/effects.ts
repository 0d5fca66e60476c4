// The services context's effects an issue step runs inside its own transaction (activities/issue-step.ts): the
// request's price and SLAs from the catalog, offers to qualified workers, and the client's review of the worker.
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, notInArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Transaction, Tx } from '../../db/client.js';
import { appendEvent } from '../../db/events.js';
import { users } from '../../db/schema/auth.js';
import { serviceReviews, services, workerQualifications, workerRatings } from '../../db/schema/services.js';
import type { EffectInput, IssueEvent } from '../../workflows/statechart/catalog.js';
import type { Config } from '../config.js';
import { stableUuid } from '../ids.js';

/**
 * The platform's share of a price, rounded down to a whole cent: the platform never takes more than its
 * percentage, and the worker's credit (price − commission) plus the commission is exactly the price.
 */
const commissionCents = (priceCents: number, percent: number) => Math.floor((priceCents * percent) / 100);

const Review = z.object({
  assigneeId: z.uuid(),
  clientId: z.uuid(),
  serviceId: z.uuid(),
  rating: z.number().int().min(1).max(5),
  reviewComment: z.string().max(2000).default(''),
});

/** The services effects an issue step runs inside its own transaction. */
export const serviceEffects = {
  /** Effect `describeService`: fixes the request's price, commission and SLAs when it is made. */
  async describeService(tx: Tx, input: EffectInput, config: Config): Promise<IssueEvent> {
    const serviceId = input.context.serviceId;
    const [service] = z.uuid().safeParse(serviceId).success
      ? await tx.select().from(services).where(eq(services.id, serviceId as string))
      : [];
    if (!service) return { type: 'service.inactive', data: { reason: `no service ${String(serviceId)} in the catalog` } };
    if (!service.active) return { type: 'service.inactive', data: { reason: `the service "${service.name}" is not offered any more` } };
    const percent = config.billing.platformCommissionPercent;
    const commission = commissionCents(service.priceCents, percent);
    return {
      type: 'service.described',
      data: {
        serviceName: service.name,
        priceCents: service.priceCents,
        commissionPercent: percent,
        commissionCents: commission,
        workerCreditCents: service.priceCents - commission,
        offerSla: config.services.offerSla,
        reviewWindow: config.services.reviewWindow,
      },
    };
  },

  /** Effect `offerService`: a random active worker qualified for the service, never one asked before. */
  async offerService(tx: Tx, input: EffectInput): Promise<IssueEvent> {
    const serviceId = z.uuid().parse(input.context.serviceId);
    const asked = Array.isArray(input.context.offeredWorkerIds)
      ? input.context.offeredWorkerIds.filter((id): id is string => typeof id === 'string')
      : [];
    const [worker] = await tx
      .select({ id: workerQualifications.workerId })
      .from(workerQualifications)
      .innerJoin(users, eq(users.id, workerQualifications.workerId))
      .where(
        and(
          eq(workerQualifications.serviceId, serviceId),
          eq(users.role, 'worker'),
          eq(users.status, 'active'),
          asked.length ? notInArray(workerQualifications.workerId, asked) : undefined,
        ),
      )
      .orderBy(sql`random()`)
      .limit(1);
    return worker
      ? { type: 'offer.made', data: { workerId: worker.id, serviceId } }
      : { type: 'offer.none', data: { serviceId, asked: asked.length } };
  },

  /** Effect `recordReview`: the review and the worker's rolled-up rating move together, once per request. */
  async recordReview(tx: Transaction, input: EffectInput): Promise<void> {
    const parsed = Review.safeParse(input.context);
    if (!parsed.success) {
      throw ApplicationFailure.create({
        type: 'Services.InvalidReview',
        message: `review of ${input.issueId}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        nonRetryable: true,
      });
    }
    const review = parsed.data;
    const [inserted] = await tx
      .insert(serviceReviews)
      .values({
        requestId: input.issueId,
        serviceId: review.serviceId,
        workerId: review.assigneeId,
        clientId: review.clientId,
        rating: review.rating,
        comment: review.reviewComment,
      })
      .onConflictDoNothing()
      .returning({ requestId: serviceReviews.requestId });
    if (!inserted) return; // a retry: the rating already counts it
    const [rating] = await tx
      .insert(workerRatings)
      .values({ workerId: review.assigneeId, reviews: 1, ratingSum: review.rating })
      .onConflictDoUpdate({
        target: workerRatings.workerId,
        set: {
          reviews: sql`${workerRatings.reviews} + 1`,
          ratingSum: sql`${workerRatings.ratingSum} + ${review.rating}`,
          updatedAt: sql`now()`,
        },
      })
      .returning();
    await appendEvent(tx, {
      id: stableUuid(`${input.issueId}:worker.rated`),
      name: 'worker.rated',
      version: 1,
      producer: 'services',
      data: { workerId: review.assigneeId, requestId: input.issueId, rating: review.rating, reviews: rating!.reviews, ratingSum: rating!.ratingSum },
    });
  },
};
