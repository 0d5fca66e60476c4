import type { ContextName } from '../lib/config.js';
import { createAuthActivities } from './auth.js';
import type { ActivityDeps } from './deps.js';

/** Activities of each context, registered on that context's task queue. */
export function createActivities(deps: ActivityDeps) {
  return {
    auth: createAuthActivities(deps),
  } satisfies Partial<Record<ContextName, object>>;
}

export type Activities = ReturnType<typeof createActivities>;
