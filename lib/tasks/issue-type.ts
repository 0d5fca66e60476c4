// The aTES task as a statechart. Prices are drawn once, in the root entry, so a shuffle
// (which re-enters `assigning`) never changes them.
import { z } from 'zod';
import { declared, matching } from '../issues/builtin-input.js';

/** What a task starter gives beside its title: the jira id has its own field, so a title holds no brackets. */
export const TaskContextFields = z
  .object({
    description: z.string().max(5000).default(''),
    jiraId: matching(/^[A-Z][A-Z0-9]*-\d+$/, 'a jira id such as UBERPOP-42', 50).optional(),
  })
  .strict();
export const TaskTitle = matching(/^[^[\]]*$/, 'must not contain [ or ]: put the jira id in jiraId', 200);

export const taskType = {
  key: 'task',
  name: 'Task',
  description: 'An aTES task: assigned to a random worker (who pays the fee), completed by them for the reward.',
  input: { title: declared(TaskTitle), context: declared<{ type: 'object' }>(TaskContextFields), events: {} },
  definition: {
    id: 'task',
    initial: 'assigning',
    context: { assignments: 0 },
    entry: [
      { type: 'setRandomInt', params: { field: 'assignFeeCents', min: 1000, max: 2000, step: 100 } },
      { type: 'setRandomInt', params: { field: 'rewardCents', min: 2000, max: 4000, step: 100 } },
      {
        type: 'emit',
        params: {
          name: 'task.created',
          version: 2,
          data: {
            taskId: '$issue.id',
            title: '$context.title',
            description: '$context.description',
            jiraId: '$context.jiraId',
            assignFeeCents: '$context.assignFeeCents',
            rewardCents: '$context.rewardCents',
          },
        },
      },
    ],
    states: {
      assigning: {
        entry: [{ type: 'assignRandomUser', params: { role: 'worker' } }],
        on: {
          'assignee.assigned': {
            target: 'open',
            actions: [
              { type: 'set', params: { assigneeId: '$event.data.userId' } },
              { type: 'increment', params: { field: 'assignments' } },
              {
                type: 'emit',
                params: { name: 'task.assigned', version: 1, data: { taskId: '$issue.id', assigneeId: '$context.assigneeId', assignFeeCents: '$context.assignFeeCents' } },
              },
              { type: 'chargeAssignFee' },
              { type: 'notify', params: { to: ['assigneeId'], kind: 'task.assigned', title: 'New task: {{context.title}}', body: 'You were assigned "{{context.title}}". Reward on completion: {{context.rewardCents}} cents.' } },
            ],
          },
          'assignee.unavailable': 'unassigned',
        },
      },
      // No active worker: wait until one appears (topic) or a manager shuffles.
      unassigned: {
        entry: [{ type: 'subscribe', params: { topic: 'workers/available' } }],
        exit: [{ type: 'unsubscribe', params: { topic: 'workers/available' } }],
        on: {
          'worker.available': 'assigning',
          shuffle: { target: 'assigning', guard: { type: 'hasRole', params: { roles: ['manager', 'admin'] } } },
        },
      },
      open: {
        on: {
          complete: {
            target: 'done',
            guard: 'isAssignee',
            actions: [
              { type: 'emit', params: { name: 'task.completed', version: 1, data: { taskId: '$issue.id', assigneeId: '$context.assigneeId', rewardCents: '$context.rewardCents' } } },
              { type: 'payReward' },
            ],
          },
          shuffle: { target: 'assigning', guard: { type: 'hasRole', params: { roles: ['manager', 'admin'] } } },
        },
      },
      done: { type: 'final' },
    },
  },
};
