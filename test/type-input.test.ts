// An issue type declares what callers may put in: who starts it, what a starter may put in the initial context,
// what each user event carries (JSON Schemas). Everything else is server-owned, money above all: a caller can set
// no amount and no account, and a type that would let them is refused when it is saved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness, type TestUser } from './support/harness.js';

let h: Harness;
let admin: TestUser;
let manager: TestUser;
let popug: TestUser;
beforeAll(async () => {
  h = await startHarness();
  [admin, manager, popug] = await Promise.all([h.user('admin'), h.user('manager'), h.user('worker')]);
});
afterAll(() => h?.stop());

const saveType = (key: string, definition: Record<string, unknown>, input?: Record<string, unknown>) =>
  h.request('POST', '/issue-types', { token: admin.token, body: { key, name: key, definition, input } });

/** A bounty: the starter is the assignee, `claim` pays the reward from the context. */
const bounty = (claimActions: unknown[] = [{ type: 'payReward' }]) => ({
  initial: 'open',
  context: { rewardCents: 500 },
  entry: [{ type: 'set', params: { assigneeId: '$context.creatorId' } }],
  states: { open: { on: { claim: { target: 'paid', actions: claimActions } } }, paid: { type: 'final' } },
});

const rewardsOf = async (userId: string) =>
  (await h.database.sql`select coalesce(sum(amount_cents), 0)::int as cents from ledger_entries where user_id = ${userId} and kind = 'reward'`)[0]!.cents as number;

describe('money a caller sets', () => {
  it('refuses a starter who puts a money field in the context, naming it, and pays only the type’s own amount', async () => {
    expect((await saveType('bounty', bounty())).status).toBe(201);
    const attack = await h.request('POST', '/issues', { token: popug.token, body: { type: 'bounty', title: 'Mine', context: { rewardCents: 50_000_000 } } });
    expect(attack.status).toBe(422);
    expect(attack.body.errors).toEqual([{ field: 'body.context.rewardCents', message: expect.stringMatching(/no initial context/) }]);

    const honest = await h.request('POST', '/issues', { token: popug.token, body: { type: 'bounty', title: 'Honest' } });
    expect(honest.status, JSON.stringify(honest.body)).toBe(201);
    const claimed = await h.request('POST', `/issues/${honest.body.id}/events`, { token: popug.token, body: { type: 'claim', data: { rewardCents: 50_000_000 } } });
    expect(claimed.status).toBe(422);
    expect(claimed.body.errors[0].field).toBe('body.data.rewardCents');
    const paid = await h.request('POST', `/issues/${honest.body.id}/events`, { token: popug.token, body: { type: 'claim' } });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(await rewardsOf(popug.id)).toBe(500);
  });

  it('refuses to save a type that lets a starter set a field a money effect reads', async () => {
    const saved = await saveType('bounty_open', bounty(), {
      context: { type: 'object', properties: { note: { type: 'string' }, rewardCents: { type: 'integer' } } },
    });
    expect(saved.status).toBe(422);
    expect(saved.body.errors).toEqual([{ field: 'body.input.context.properties.rewardCents', message: expect.stringMatching(/payReward/) }]);
  });

  it('refuses to save a type that copies event data, or a starter’s field, into a money field', async () => {
    const fromEvent = await saveType('bounty_event', bounty([{ type: 'set', params: { rewardCents: '$event.data.amount' } }, { type: 'payReward' }]), {
      events: { claim: { type: 'object', properties: { amount: { type: 'integer' } } } },
    });
    expect(fromEvent.status).toBe(422);
    expect(fromEvent.body.errors[0]).toMatchObject({ field: 'body.definition.states.open.on.claim.actions[0].params.rewardCents' });
    const fromStarter = await saveType('bounty_starter', bounty([{ type: 'set', params: { assigneeId: '{{context.payee}}' } }, { type: 'payReward' }]), {
      context: { type: 'object', properties: { payee: { type: 'string' } } },
    });
    expect(fromStarter.status).toBe(422);
    expect(fromStarter.body.errors[0].field).toBe('body.definition.states.open.on.claim.actions[0].params.assigneeId');
  });
});

describe('declared input', () => {
  it('checks the initial context and each event’s data against the type’s schemas, and who may start it', async () => {
    const saved = await saveType(
      'room_booking',
      { initial: 'requested', states: { requested: { on: { confirm: { target: 'confirmed', actions: [{ type: 'set', params: { seat: '$event.data.seat' } }] } } }, confirmed: {} } },
      {
        startRoles: ['manager'],
        context: { type: 'object', properties: { room: { type: 'string', enum: ['red', 'blue'] } }, required: ['room'] },
        events: { confirm: { type: 'object', properties: { seat: { type: 'integer', minimum: 1, maximum: 40 } }, required: ['seat'] } },
      },
    );
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    expect(saved.body.input).toMatchObject({ startRoles: ['manager'] });

    const byWorker = await h.request('POST', '/issues', { token: popug.token, body: { type: 'room_booking', title: 'Standup', context: { room: 'red' } } });
    expect(byWorker.status).toBe(403);
    const badRoom = await h.request('POST', '/issues', { token: manager.token, body: { type: 'room_booking', title: 'Standup', context: { room: 'green' } } });
    expect(badRoom.status).toBe(422);
    expect(badRoom.body.errors[0].field).toBe('body.context.room');
    const extra = await h.request('POST', '/issues', { token: manager.token, body: { type: 'room_booking', title: 'Standup', context: { room: 'red', assigneeId: popug.id } } });
    expect(extra.status).toBe(422);
    const booked = await h.request('POST', '/issues', { token: manager.token, body: { type: 'room_booking', title: 'Standup', context: { room: 'red' } } });
    expect(booked.status, JSON.stringify(booked.body)).toBe(201);
    expect(booked.body.context).toMatchObject({ room: 'red' });

    const badSeat = await h.request('POST', `/issues/${booked.body.id}/events`, { token: manager.token, body: { type: 'confirm', data: { seat: 99 } } });
    expect(badSeat.status).toBe(422);
    expect(badSeat.body.errors[0].field).toBe('body.data.seat');
    const confirmed = await h.request('POST', `/issues/${booked.body.id}/events`, { token: manager.token, body: { type: 'confirm', data: { seat: 7 } } });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body).toMatchObject({ state: 'confirmed', context: { room: 'red', seat: 7 } });
  });

  it('refuses a declaration that is not an object schema or leaves other keys open', async () => {
    const definition = { initial: 'a', states: { a: {} } };
    const notObject = await saveType('bad_input_a', definition, { context: { type: 'string' } });
    expect(notObject.status).toBe(422);
    expect(notObject.body.errors[0].field).toBe('body.input.context.type');
    const open = await saveType('bad_input_b', definition, { context: { type: 'object', additionalProperties: true } });
    expect(open.status).toBe(422);
    expect(open.body.errors[0].field).toBe('body.input.context.additionalProperties');
  });
});
