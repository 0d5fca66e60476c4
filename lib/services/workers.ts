// Workers as the services context sees them: the services they are qualified for and their clients' rating.
import { asc, eq } from 'drizzle-orm';
import type { Tx } from '../../db/client.js';
import { users } from '../../db/schema/auth.js';
import { services, workerQualifications, workerRatings } from '../../db/schema/services.js';

/** A worker's profile; undefined when the user is unknown or not a worker. */
export async function workerProfile(db: Tx, id: string) {
  const [worker] = await db.select({ id: users.id, name: users.name, role: users.role }).from(users).where(eq(users.id, id));
  if (!worker || worker.role !== 'worker') return undefined;
  const qualified = await db
    .select({ id: services.id, name: services.name, active: services.active })
    .from(workerQualifications)
    .innerJoin(services, eq(services.id, workerQualifications.serviceId))
    .where(eq(workerQualifications.workerId, id))
    .orderBy(asc(services.name));
  const [rating] = await db.select().from(workerRatings).where(eq(workerRatings.workerId, id));
  const reviews = rating?.reviews ?? 0;
  return {
    workerId: worker.id,
    name: worker.name,
    services: qualified,
    rating: { average: reviews ? Math.round((rating!.ratingSum * 100) / reviews) / 100 : null, reviews },
  };
}
