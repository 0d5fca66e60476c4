// What one issue step commits, computed purely from the machine's transition: the step record (transition, read
// model, emitted events) and the effects with their params resolved. The issue workflow plans its own steps with
// it; a shuffle batch (activities/shuffle.ts) plans the steps it commits for many issues in one transaction, and
// each issue's workflow then replays the same events through its machine without committing anything again.
import type { AnyMachineSnapshot } from 'xstate';
import { systemActor, type Actor, type EffectInput, type EffectName, type EmitParams, type IssueContext, type IssueEvent } from './catalog.js';
import { resolveExpressions } from './expressions.js';
import { stateName, type StepAction } from './machine.js';

export interface RecordStepInput {
  issueId: string;
  type: { key: string; version: number };
  title: string;
  creatorId: string;
  step: number;
  from: string | null;
  event: { type: string; actor: Actor };
  to: string;
  status: 'active' | 'done';
  context: IssueContext;
  assigneeId: string | null;
  emits: EmitParams[];
}

/** One effect of the step, its params already resolved against the context and event it was computed with. */
export interface StepEffectInput extends EffectInput {
  name: EffectName;
}

export interface CommitStepInput extends RecordStepInput {
  /** The statechart's state value after the step (`to` is its name). */
  value: unknown;
  /** In the order the statechart asked for them; an answer is fed back into the statechart as the next event. */
  effects: StepEffectInput[];
}

/** Why a step was not committed: a shuffle batch committed steps of this issue under that number first. */
export const stepTakenType = 'Issue.StepTaken';

/** The issue a step belongs to: what every step record repeats. */
export interface StepIssue {
  issueId: string;
  type: { key: string; version: number };
  title: string;
  creatorId: string;
}

/** An effect action's params with `$…` and `{{…}}` expressions resolved against its context and event. */
export function resolveParams(issue: StepIssue, action: Extract<StepAction, { kind: 'effect' }>): Record<string, unknown> {
  return resolveExpressions((action.params ?? {}) as Record<string, unknown>, {
    context: action.context,
    event: action.event,
    issue: { id: issue.issueId, type: issue.type.key },
  });
}

export const assigneeOf = (snapshot: AnyMachineSnapshot): string | null =>
  typeof snapshot.context.assigneeId === 'string' ? snapshot.context.assigneeId : null;

/** The step numbered `step` that `event` took from state `from` to `after` with `actions`. */
export function planStep(
  issue: StepIssue,
  step: number,
  from: string | null,
  event: IssueEvent,
  after: AnyMachineSnapshot,
  actions: StepAction[],
): CommitStepInput {
  const emits = actions.flatMap((a) =>
    a.kind === 'effect' && a.type === 'emit'
      ? [resolveExpressions(a.params as EmitParams, { context: a.context, event: a.event, issue: { id: issue.issueId, type: issue.type.key } })]
      : [],
  );
  const effects = actions.flatMap((action, index) =>
    action.kind === 'effect' && action.type !== 'emit'
      ? [{ name: action.type as EffectName, key: `${issue.issueId}:${step}:${index}`, issueId: issue.issueId, issueType: issue.type.key, params: resolveParams(issue, action), context: action.context }]
      : [],
  );
  return {
    ...issue,
    step,
    from,
    event: { type: event.type, actor: event.actor ?? systemActor },
    to: stateName(after.value),
    status: after.status === 'done' ? 'done' : 'active',
    context: after.context,
    assigneeId: assigneeOf(after),
    emits,
    value: after.value,
    effects,
  };
}
