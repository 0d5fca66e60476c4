// The built-in issue types (lib/*/issue-type.ts) as realistic charts: their lifecycles stepped through the pure machine,
// with effects, timers, guards and rendered expressions checked the way the issue workflow would run them.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inventoryType } from '../../lib/inventory/issue-type.js';
import { serviceRequestType } from '../../lib/services/issue-type.js';
import { taskType } from '../../lib/tasks/issue-type.js';
import { effects } from '../../workflows/statechart/catalog.js';
import { allowedEvents, start, stateName, step } from '../../workflows/statechart/machine.js';
import { validateDefinition } from '../../workflows/statechart/validate.js';
import { actor, effectsOf, emitsOf, machineOf, rendered, run, schedulesOf, summary, theEffect } from './statechart-support.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const worker = actor('w-1', 'worker');
const otherWorker = actor('w-2', 'worker');
const reviewer = actor('r-1', 'reviewer');
const manager = actor('m-1', 'manager');
const admin = actor('a-1', 'admin');
const client = actor('c-1', 'client');
const issueId = 'issue-42';

describe.each([
  ['task', taskType],
  ['inventory', inventoryType],
  ['service_request', serviceRequestType],
])('built-in type %s', (key, type) => {
  it('passes the save-time validator', () => {
    expect(validateDefinition(type.definition, key)).toEqual([]);
  });

  it('uses its key as the machine id', () => {
    expect(type.key).toBe(key);
    expect(machineOf(type.definition, key).id).toBe(key);
  });

  it('handles every answer of every effect it asks for', () => {
    const asked = new Set<string>();
    const handled = new Set<string>();
    const walk = (value: unknown) => {
      if (Array.isArray(value)) return value.forEach(walk);
      if (!value || typeof value !== 'object') return;
      const record = value as Record<string, unknown>;
      if (typeof record.type === 'string' && Object.hasOwn(effects, record.type)) asked.add(record.type);
      if (record.on && typeof record.on === 'object') Object.keys(record.on).forEach((event) => handled.add(event));
      Object.values(record).forEach(walk);
    };
    walk(type.definition);
    const answers = [...asked].flatMap((name) => effects[name as keyof typeof effects].answers);
    expect(answers.length).toBeGreaterThan(0);
    for (const answer of answers) expect(handled, `${key} never handles ${answer}`).toContain(answer);
  });
});

describe('task', () => {
  const machine = machineOf(taskType.definition, 'task');
  const render = (a: Parameters<typeof rendered>[0]) => rendered(a, issueId, 'task');

  function assigned() {
    const [snapshot] = start(machine, { title: 'Fix the roof' });
    return run(machine, snapshot, { type: 'assignee.assigned', data: { userId: 'w-1' } });
  }

  it.each([
    [0, 1000, 2000],
    [0.5, 1500, 3000],
    [0.9999, 2000, 4000],
  ])('draws its prices in steps of 100 (Math.random() = %d: fee %d, reward %d)', (random, fee, reward) => {
    vi.spyOn(Math, 'random').mockReturnValue(random);
    const [snapshot] = start(machine, { title: 'Fix the roof' });
    expect(snapshot.context).toMatchObject({ assignFeeCents: fee, rewardCents: reward });
  });

  it('announces the creation with its prices, then asks for a worker', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const [snapshot, actions] = start(machine, { title: 'Fix the roof' });
    expect(snapshot.value).toBe('assigning');
    expect(snapshot.context).toEqual({ assignFeeCents: 1000, rewardCents: 2000, assignments: 0, title: 'Fix the roof' });
    expect(summary(actions)).toEqual(['effect:emit', 'effect:assignRandomUser']);
    expect(emitsOf(actions, issueId, 'task')).toEqual([
      {
        name: 'task.created',
        version: 2,
        data: { taskId: issueId, title: 'Fix the roof', description: undefined, jiraId: undefined, assignFeeCents: 1000, rewardCents: 2000 },
      },
    ]);
    expect(theEffect(actions, 'assignRandomUser').params).toEqual({ role: 'worker' });
  });

  it('on assignment: records the assignee, counts it, then emits, charges the fee and notifies, in that order', () => {
    const [snapshot, actions] = assigned();
    expect(snapshot.value).toBe('open');
    expect(snapshot.context).toMatchObject({ assigneeId: 'w-1', assignments: 1 });
    expect(summary(actions)).toEqual(['effect:emit', 'effect:chargeAssignFee', 'effect:notify']);
    const fee = snapshot.context.assignFeeCents;
    expect(emitsOf(actions, issueId, 'task')).toEqual([{ name: 'task.assigned', version: 1, data: { taskId: issueId, assigneeId: 'w-1', assignFeeCents: fee } }]);
    expect(render(theEffect(actions, 'notify'))).toEqual({
      to: ['assigneeId'],
      kind: 'task.assigned',
      title: 'New task: Fix the roof',
      body: `You were assigned "Fix the roof". Reward on completion: ${snapshot.context.rewardCents} cents.`,
    });
    expect(theEffect(actions, 'chargeAssignFee').context.assigneeId).toBe('w-1');
  });

  it('lets the assignee complete, managers and admins shuffle, and nobody else anything', () => {
    const [open] = assigned();
    expect(allowedEvents(open, worker)).toEqual(['complete']);
    expect(allowedEvents(open, manager)).toEqual(['shuffle']);
    expect(allowedEvents(open, admin)).toEqual(['shuffle']);
    expect(allowedEvents(open, otherWorker)).toEqual([]);
    expect(step(machine, open, { type: 'complete', actor: otherWorker })[0]).toBe(open);
    expect(step(machine, open, { type: 'shuffle', actor: worker })[0]).toBe(open);
  });

  it('completion by the assignee ends the task and pays the reward', () => {
    const [open] = assigned();
    const [done, actions] = step(machine, open, { type: 'complete', actor: worker });
    expect(done.value).toBe('done');
    expect(done.status).toBe('done');
    expect(summary(actions)).toEqual(['effect:emit', 'effect:payReward']);
    expect(emitsOf(actions, issueId, 'task')[0]).toEqual({
      name: 'task.completed',
      version: 1,
      data: { taskId: issueId, assigneeId: 'w-1', rewardCents: open.context.rewardCents },
    });
  });

  it('a shuffle assigns again without drawing new prices', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const [open] = assigned();
    vi.spyOn(Math, 'random').mockReturnValue(0.9999);
    const [again, actions] = step(machine, open, { type: 'shuffle', actor: manager });
    expect(again.value).toBe('assigning');
    expect(summary(actions)).toEqual(['effect:assignRandomUser']);
    const [reassigned] = run(machine, again, { type: 'assignee.assigned', data: { userId: 'w-2' } });
    expect(reassigned.context).toMatchObject({
      assigneeId: 'w-2',
      assignments: 2,
      assignFeeCents: 1000,
      rewardCents: 2000,
    });
  });

  it('without a worker it waits subscribed, and leaves the topic before assigning again', () => {
    const [snapshot] = start(machine, { title: 'T' });
    const [unassigned, waiting] = run(machine, snapshot, { type: 'assignee.unavailable' });
    expect(unassigned.value).toBe('unassigned');
    expect(effectsOf(waiting).map((a) => [a.type, a.params])).toEqual([['subscribe', { topic: 'workers/available' }]]);
    expect(allowedEvents(unassigned, manager)).toEqual(['shuffle']);
    expect(allowedEvents(unassigned, worker)).toEqual([]);
    const [, actions] = run(machine, unassigned, { type: 'worker.available', data: { userId: 'w-9' } });
    expect(effectsOf(actions).map((a) => [a.type, a.params])).toEqual([
      ['unsubscribe', { topic: 'workers/available' }],
      ['assignRandomUser', { role: 'worker' }],
    ]);
  });
});

describe('inventory', () => {
  const machine = machineOf(inventoryType.definition, 'inventory');
  const emitted = (actions: Parameters<typeof emitsOf>[0]) => emitsOf(actions, issueId, 'inventory');
  const input = { location: 'Store 7', items: [{ sku: 'A-1', name: 'Bolt', expectedQuantity: 3 }], startSla: '2h' };

  function counting() {
    const [snapshot] = start(machine, input);
    return run(
      machine,
      snapshot,
      { type: 'inventory.created', data: { inventoryId: 'inv-1' } },
      { type: 'assignee.assigned', data: { userId: 'w-1' } },
      { type: 'inventory.started', data: { inventoryId: 'inv-1' } },
    );
  }

  function inReview() {
    const [snapshot] = counting();
    return run(
      machine,
      snapshot,
      { type: 'close', actor: worker },
      { type: 'inventory.closed', data: { inventoryId: 'inv-1' } },
      { type: 'assignee.assigned', data: { userId: 'r-1' } },
    );
  }

  it('creates its inventory, then subscribes to the inventory topic with the id it answered', () => {
    const [snapshot, first] = start(machine, input);
    expect(summary(first)).toEqual(['effect:createInventory']);
    const [assigning, actions] = step(machine, snapshot, { type: 'inventory.created', data: { inventoryId: 'inv-1' } });
    expect(assigning.value).toBe('assigning');
    expect(assigning.context.inventoryId).toBe('inv-1');
    expect(summary(actions)).toEqual(['effect:subscribe', 'effect:emit', 'effect:assignRandomUser']);
    expect(rendered(theEffect(actions, 'subscribe'))).toEqual({ topic: 'inventory/inv-1' });
    expect(emitted(actions)).toEqual([
      { name: 'inventory.issue_created', version: 1, data: { issueId, inventoryId: 'inv-1', location: 'Store 7' } },
    ]);
  });

  it('on assignment, notifies the performer and starts the start-SLA timer from the context', () => {
    const [snapshot] = start(machine, input);
    const [assigning] = run(machine, snapshot, { type: 'inventory.created', data: { inventoryId: 'inv-1' } });
    const [awaiting, actions] = step(machine, assigning, { type: 'assignee.assigned', data: { userId: 'w-1' } });
    expect(awaiting.value).toBe('awaitingStart');
    expect(awaiting.context).toMatchObject({ assigneeId: 'w-1', performerId: 'w-1' });
    expect(summary(actions)).toEqual([
      'effect:emit',
      'effect:notify',
      'effect:emit',
      'schedule:xstate.after.$context.startSla.inventory.awaitingStart:7200000',
    ]);
    expect(emitted(actions).map((e) => e.name)).toEqual(['inventory.issue_assigned', 'inventory.performer_notified']);
    expect(rendered(theEffect(actions, 'notify'), issueId, 'inventory')).toMatchObject({
      to: ['performerId'],
      title: 'Inventory at Store 7',
      body: expect.stringContaining('POST /inventories/inv-1/start'),
    });
    // Only the system moves it on: a start arrives from the inventory context.
    expect(allowedEvents(awaiting, worker)).toEqual([]);
  });

  it('an overdue start tells the managers, and a late start still counts', () => {
    const [snapshot] = start(machine, input);
    const [awaiting, assignedActions] = run(
      machine,
      snapshot,
      { type: 'inventory.created', data: { inventoryId: 'inv-1' } },
      { type: 'assignee.assigned', data: { userId: 'w-1' } },
    );
    const [timer] = schedulesOf(assignedActions);
    const [overdue, actions] = step(machine, awaiting, timer!.event);
    expect(overdue.value).toBe('startOverdue');
    expect(emitted(actions)).toEqual([
      { name: 'inventory.start_overdue', version: 1, data: { issueId, inventoryId: 'inv-1', performerId: 'w-1', sla: '2h' } },
    ]);
    expect(rendered(theEffect(actions, 'notify'), issueId, 'inventory')).toMatchObject({
      roles: ['manager'],
      body: `The inventory at Store 7 (issue ${issueId}) was not started within 2h of its assignment.`,
    });
    expect(run(machine, overdue, { type: 'inventory.started' })[0].value).toBe('counting');
  });

  it('a start in time cancels the SLA timer', () => {
    const [snapshot] = start(machine, input);
    const [awaiting] = run(machine, snapshot, { type: 'inventory.created', data: { inventoryId: 'inv-1' } }, { type: 'assignee.assigned', data: { userId: 'w-1' } });
    const [countingState, actions] = step(machine, awaiting, { type: 'inventory.started' });
    expect(countingState.value).toBe('counting');
    expect(summary(actions)).toEqual(['cancel:xstate.after.$context.startSla.inventory.awaitingStart']);
  });

  it('only the performer may close the count', () => {
    const [countingState] = counting();
    expect(allowedEvents(countingState, worker)).toEqual(['close']);
    expect(allowedEvents(countingState, manager)).toEqual([]);
    const [closing, actions] = run(machine, countingState, { type: 'close', actor: worker });
    expect(closing.value).toBe('closingInventory');
    expect(summary(actions)).toEqual(['effect:emit', 'effect:closeInventory']);
  });

  it('the reviewer becomes the assignee and alone may approve or return', () => {
    const [review, actions] = inReview();
    expect(review.value).toBe('inReview');
    expect(review.context).toMatchObject({ assigneeId: 'r-1', reviewerId: 'r-1', performerId: 'w-1' });
    expect(emitted(actions).map((e) => e.name)).toEqual(['inventory.reviewer_notified']);
    expect(allowedEvents(review, reviewer).sort()).toEqual(['approve', 'return']);
    expect(allowedEvents(review, worker)).toEqual([]);
  });

  it('approval closes the issue and leaves the inventory topic', () => {
    const [review] = inReview();
    const [closed, actions] = step(machine, review, { type: 'approve', actor: reviewer });
    expect(closed.status).toBe('done');
    expect(emitted(actions)).toEqual([
      { name: 'inventory.issue_closed', version: 1, data: { issueId, inventoryId: 'inv-1', performerId: 'w-1', reviewerId: 'r-1' } },
    ]);
    expect(rendered(theEffect(actions, 'unsubscribe'))).toEqual({ topic: 'inventory/inv-1' });
  });

  it('a return hands the issue back to the performer with the comment, and counting starts again', () => {
    const [review] = inReview();
    const [reopening, actions] = step(machine, review, { type: 'return', actor: reviewer, data: { comment: 'recount shelf 3' } });
    expect(reopening.value).toBe('reopeningInventory');
    expect(reopening.context).toMatchObject({ assigneeId: 'w-1', returnComment: 'recount shelf 3' });
    expect(summary(actions)).toEqual(['effect:emit', 'effect:reopenInventory']);
    expect(emitted(actions)[0]?.data).toEqual({ issueId, inventoryId: 'inv-1', reviewerId: 'r-1', comment: 'recount shelf 3' });
    const [again, reopened] = run(machine, reopening, { type: 'inventory.reopened', data: { inventoryId: 'inv-1' } });
    expect(again.value).toBe('counting');
    expect(rendered(theEffect(reopened, 'notify')).body).toBe(
      'The reviewer returned the inventory at Store 7: recount shelf 3. Correct the counts, then close the issue again.',
    );
    expect(allowedEvents(again, worker)).toEqual(['close']);
  });

  it('without a reviewer it retries hourly, or at once when a manager or admin says retry', () => {
    const [countingState] = counting();
    const [waiting, actions] = run(
      machine,
      countingState,
      { type: 'close', actor: worker },
      { type: 'inventory.closed' },
      { type: 'assignee.unavailable' },
    );
    expect(waiting.value).toBe('awaitingReviewer');
    expect(summary(actions)).toEqual(['effect:emit', 'effect:notify', 'schedule:xstate.after.1h.inventory.awaitingReviewer:3600000']);
    expect(allowedEvents(waiting, manager)).toEqual(['retry']);
    expect(allowedEvents(waiting, admin)).toEqual(['retry']);
    expect(allowedEvents(waiting, worker)).toEqual([]);
    const [retrying, retried] = step(machine, waiting, { type: 'retry', actor: manager });
    expect(retrying.value).toBe('assigningReviewer');
    expect(summary(retried)).toEqual(['cancel:xstate.after.1h.inventory.awaitingReviewer', 'effect:assignRandomUser']);
    expect(theEffect(retried, 'assignRandomUser').params).toEqual({ role: 'reviewer' });
    expect(step(machine, waiting, { type: 'xstate.after.1h.inventory.awaitingReviewer' })[0].value).toBe('assigningReviewer');
  });
});

describe('service request', () => {
  const machine = machineOf(serviceRequestType.definition, 'service_request');
  const emitted = (actions: Parameters<typeof emitsOf>[0]) => emitsOf(actions, issueId, 'service_request');
  const described = {
    type: 'service.described',
    data: { serviceName: 'Window cleaning', priceCents: 10_000, commissionPercent: 20, commissionCents: 2000, workerCreditCents: 8000, offerSla: '15m', reviewWindow: '3d' },
  };
  const offerTimer = 'xstate.after.$context.offerSla.service_request.offering.offered';

  function offered(workerId = 'w-1') {
    const [snapshot] = start(machine, { creatorId: 'c-1', serviceId: 'svc-1' });
    return run(machine, snapshot, described, { type: 'offer.made', data: { workerId } });
  }

  function inProgress() {
    const [offer] = offered();
    return run(machine, offer, { type: 'accept', actor: worker });
  }

  it('fixes the price and SLAs from the service, then starts offering', () => {
    const [snapshot, first] = start(machine, { creatorId: 'c-1', serviceId: 'svc-1' });
    expect(summary(first)).toEqual(['effect:describeService']);
    expect(snapshot.context).toMatchObject({ offeredWorkerIds: [], rating: null });
    const [offering, actions] = step(machine, snapshot, described);
    expect(stateName(offering.value)).toBe('offering.choosing');
    expect(offering.context).toMatchObject({ clientId: 'c-1', priceCents: 10_000, workerCreditCents: 8000, offerSla: '15m', reviewWindow: '3d' });
    expect(summary(actions)).toEqual(['effect:emit', 'effect:subscribe', 'effect:offerService']);
    expect(emitted(actions)).toEqual([
      { name: 'service.requested', version: 1, data: { requestId: issueId, serviceId: 'svc-1', clientId: 'c-1', priceCents: 10_000 } },
    ]);
    expect(rendered(theEffect(actions, 'subscribe'))).toEqual({ topic: 'services/svc-1/workers' });
  });

  it('an inactive service cancels the request at once', () => {
    const [snapshot] = start(machine, { creatorId: 'c-1', serviceId: 'svc-1' });
    const [cancelled, actions] = step(machine, snapshot, { type: 'service.inactive', data: { reason: 'retired' } });
    expect(cancelled.value).toBe('cancelled');
    expect(cancelled.status).toBe('done');
    expect(emitted(actions)).toEqual([{ name: 'service.cancelled', version: 1, data: { requestId: issueId, reason: 'retired' } }]);
  });

  it('an offer records the worker, notifies them and starts the offer SLA timer', () => {
    const [offer, actions] = offered();
    expect(stateName(offer.value)).toBe('offering.offered');
    expect(offer.context).toMatchObject({ assigneeId: 'w-1', offeredWorkerIds: ['w-1'] });
    expect(summary(actions)).toEqual(['effect:emit', 'effect:notify', `schedule:${offerTimer}:900000`]);
    expect(emitted(actions)[0]).toEqual({
      name: 'service.offered',
      version: 1,
      data: { requestId: issueId, serviceId: 'svc-1', workerId: 'w-1', offeredWorkerIds: ['w-1'] },
    });
    expect(rendered(theEffect(actions, 'notify')).body).toBe(
      'A client asks for "Window cleaning"; you earn 8000 cents. Accept or decline within 15m.',
    );
  });

  it('while offered: the worker may accept or decline, the client and managers may cancel', () => {
    const [offer] = offered();
    expect(allowedEvents(offer, worker).sort()).toEqual(['accept', 'decline']);
    expect(allowedEvents(offer, client)).toEqual(['cancel']);
    expect(allowedEvents(offer, manager)).toEqual(['cancel']);
    expect(allowedEvents(offer, otherWorker)).toEqual([]);
    expect(allowedEvents(offer, actor('c-2', 'client'))).toEqual([]);
  });

  it('an expired offer is announced with the worker before the assignee is cleared, and the next worker is asked', () => {
    const [offer] = offered();
    const [choosing, actions] = step(machine, offer, { type: offerTimer });
    expect(stateName(choosing.value)).toBe('offering.choosing');
    expect(choosing.context.assigneeId).toBeNull();
    expect(emitted(actions)).toEqual([{ name: 'service.offer_expired', version: 1, data: { requestId: issueId, workerId: 'w-1' } }]);
    expect(summary(actions)).toEqual([`cancel:${offerTimer}`, 'effect:emit', 'effect:offerService']);
    const [second] = run(machine, choosing, { type: 'offer.made', data: { workerId: 'w-2' } });
    expect(second.context.offeredWorkerIds).toEqual(['w-1', 'w-2']);
  });

  it('a decline asks the next worker; when none is left the request waits for a newly qualified one', () => {
    const [offer] = offered();
    const [choosing, declined] = run(machine, offer, { type: 'decline', actor: worker, data: { reason: 'busy' } });
    expect(emitted(declined)[0]?.data).toEqual({ requestId: issueId, workerId: 'w-1', reason: 'busy' });
    const [waiting, actions] = run(machine, choosing, { type: 'offer.none' });
    expect(stateName(waiting.value)).toBe('offering.waiting');
    expect(emitted(actions)[0]).toMatchObject({ name: 'service.unavailable', data: { offeredWorkerIds: ['w-1'] } });
    expect(rendered(theEffect(actions, 'notify')).title).toBe('No worker for Window cleaning');
    expect(stateName(run(machine, waiting, { type: 'worker.qualified' })[0].value)).toBe('offering.choosing');
  });

  it('acceptance leaves the offering: timer cancelled, topic left, client told', () => {
    const [offer] = offered();
    const [progress, actions] = step(machine, offer, { type: 'accept', actor: worker });
    expect(progress.value).toBe('in_progress');
    expect(summary(actions)).toEqual([`cancel:${offerTimer}`, 'effect:unsubscribe', 'effect:emit', 'effect:notify']);
    expect(rendered(theEffect(actions, 'unsubscribe'))).toEqual({ topic: 'services/svc-1/workers' });
    expect(rendered(theEffect(actions, 'notify'))).toMatchObject({ to: ['clientId'], title: 'Your request is accepted: Window cleaning' });
    expect(allowedEvents(progress, client)).toEqual([]);
  });

  it.each([
    ['the client', client],
    ['a manager', manager],
    ['an admin', admin],
  ])('%s may cancel before acceptance, which records who and why', (_, sender) => {
    const [offer] = offered();
    const [cancelled, actions] = step(machine, offer, { type: 'cancel', actor: sender, data: { reason: 'changed my mind' } });
    expect(cancelled.value).toBe('cancelled');
    expect(cancelled.context).toMatchObject({ assigneeId: null, cancelReason: 'changed my mind' });
    expect(emitted(actions)).toEqual([
      { name: 'service.cancelled', version: 1, data: { requestId: issueId, cancelledBy: sender.id, reason: 'changed my mind' } },
    ]);
    expect(summary(actions)).toContain('effect:unsubscribe');
  });

  it('a worker may not cancel', () => {
    const [offer] = offered();
    expect(step(machine, offer, { type: 'cancel', actor: worker })[0]).toBe(offer);
  });

  it('done bills the client and credits the worker, then the client reviews and the request closes', () => {
    const [progress] = inProgress();
    expect(allowedEvents(progress, worker).sort()).toEqual(['done', 'not_done']);
    const [reviewing, actions] = step(machine, progress, { type: 'done', actor: worker });
    expect(reviewing.value).toBe('reviewing');
    expect(summary(actions)).toEqual([
      'effect:emit',
      'effect:chargeClient',
      'effect:creditWorker',
      'effect:notify',
      'schedule:xstate.after.$context.reviewWindow.service_request.reviewing:259200000',
    ]);
    expect(theEffect(actions, 'chargeClient').context).toMatchObject({ clientId: 'c-1', priceCents: 10_000, outcome: 'done' });
    expect(allowedEvents(reviewing, client)).toEqual(['review']);
    expect(allowedEvents(reviewing, worker)).toEqual([]);
    const [closed, reviewed] = step(machine, reviewing, { type: 'review', actor: client, data: { rating: 5, comment: 'spotless' } });
    expect(closed.status).toBe('done');
    expect(closed.context).toMatchObject({ rating: 5, reviewComment: 'spotless' });
    expect(emitted(reviewed).map((e) => [e.name, e.data])).toEqual([
      ['service.reviewed', { requestId: issueId, workerId: 'w-1', rating: 5, comment: 'spotless' }],
      ['service.closed', { requestId: issueId, outcome: 'done', rating: 5 }],
    ]);
    expect(summary(reviewed)).toContain('effect:recordReview');
  });

  it('not done charges nothing; an unreviewed request closes when the review window ends', () => {
    const [progress] = inProgress();
    const [reviewing, actions] = step(machine, progress, { type: 'not_done', actor: worker, data: { reason: 'no access' } });
    expect(summary(actions)).not.toContain('effect:chargeClient');
    expect(summary(actions)).not.toContain('effect:creditWorker');
    expect(rendered(theEffect(actions, 'notify')).body).toBe('Your request for "Window cleaning" was not done: no access. Nothing is charged.');
    const [closed, timedOut] = step(machine, reviewing, { type: 'xstate.after.$context.reviewWindow.service_request.reviewing' });
    expect(closed.value).toBe('closed');
    expect(closed.status).toBe('done');
    expect(emitted(timedOut)).toEqual([{ name: 'service.closed', version: 1, data: { requestId: issueId, outcome: 'not_done', rating: null } }]);
  });
});
