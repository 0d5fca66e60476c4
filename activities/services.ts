// Services context: the activities its worker runs (the effects themselves: lib/services/effects.ts).
import { transaction } from '../db/client.js';
import { serviceEffects } from '../lib/services/effects.js';
import type { EffectInput } from '../workflows/statechart/catalog.js';
import type { ActivityDeps } from './deps.js';

/** The same effects as activities of their own, for issues started before steps ran in one transaction. */
export function createServiceActivities({ config, database: { db } }: ActivityDeps) {
  return {
    describeService: (input: EffectInput) => serviceEffects.describeService(db, input, config),
    offerService: (input: EffectInput) => serviceEffects.offerService(db, input),
    recordReview: (input: EffectInput) => transaction(db, 'services.review', (tx) => serviceEffects.recordReview(tx, input)),
  };
}
