// A client's service request as a statechart. The price, the commission and the SLAs are
// fixed when the request is made (`describeService`); offers go to qualified workers one at a time, never to the
// same worker twice (`offeredWorkerIds`); billing (charge and credit) commits with the `done` step.

import { z } from 'zod';
import { declared, Text } from '../issues/builtin-input.js';

/** What a client gives when requesting a service, beside its title; its first step fixes the price and SLAs from the catalog. */
export const ServiceRequestFields = z.object({ serviceId: z.uuid(), note: z.string().max(2000).default('') }).strict();
/** What the events of a service request carry. */
export const ServiceEventFields = {
  review: z.object({ rating: z.number().int().min(1).max(5), comment: z.string().max(2000).default('') }).strict(),
  not_done: z.object({ reason: Text(2000) }).strict(),
  decline: z.object({ reason: Text(2000).optional() }).strict(),
  cancel: z.object({ reason: Text(2000).optional() }).strict(),
};
const requestId = '$issue.id';
const toClient = (kind: string, title: string, body: string) => ({ type: 'notify', params: { to: ['clientId'], kind, title, body } });
const emit = (name: string, data: Record<string, unknown>) => ({ type: 'emit', params: { name, version: 1, data: { requestId, ...data } } });
// The client, or a manager, may cancel a request until a worker has accepted it.
const cancelActions = [
  { type: 'set', params: { assigneeId: null, cancelReason: '$event.data.reason' } },
  emit('service.cancelled', { cancelledBy: '$event.actor.id', reason: '$context.cancelReason' }),
];
const cancel = [
  { target: '#service_request.cancelled', guard: { type: 'isUser', params: { field: 'clientId' } }, actions: cancelActions },
  { target: '#service_request.cancelled', guard: { type: 'hasRole', params: { roles: ['manager', 'admin'] } }, actions: cancelActions },
];

export const serviceRequestType = {
  key: 'service_request',
  name: 'Service request',
  description:
    'A client orders a catalog service: offered to qualified workers in turn until one accepts, performed, billed, then reviewed by the client.',
  input: {
    startRoles: ['client'],
    context: declared<{ type: 'object' }>(ServiceRequestFields),
    events: Object.fromEntries(Object.entries(ServiceEventFields).map(([event, schema]) => [event, declared<{ type: 'object' }>(schema)])),
  },
  definition: {
    id: 'service_request',
    initial: 'describing',
    context: { offeredWorkerIds: [], rating: null },
    states: {
      describing: {
        entry: [{ type: 'describeService' }],
        on: {
          'service.described': {
            target: 'offering',
            actions: [
              {
                type: 'set',
                params: {
                  clientId: '$context.creatorId',
                  serviceName: '$event.data.serviceName',
                  priceCents: '$event.data.priceCents',
                  commissionPercent: '$event.data.commissionPercent',
                  commissionCents: '$event.data.commissionCents',
                  workerCreditCents: '$event.data.workerCreditCents',
                  offerSla: '$event.data.offerSla',
                  reviewWindow: '$event.data.reviewWindow',
                },
              },
              emit('service.requested', { serviceId: '$context.serviceId', clientId: '$context.clientId', priceCents: '$context.priceCents' }),
            ],
          },
          'service.inactive': {
            target: 'cancelled',
            actions: [
              { type: 'set', params: { clientId: '$context.creatorId', cancelReason: '$event.data.reason' } },
              emit('service.cancelled', { reason: '$context.cancelReason' }),
            ],
          },
        },
      },
      // Subscribed for the whole search: a worker qualified while an offer is being made is heard once it waits.
      offering: {
        entry: [{ type: 'subscribe', params: { topic: 'services/{{context.serviceId}}/workers' } }],
        exit: [{ type: 'unsubscribe', params: { topic: 'services/{{context.serviceId}}/workers' } }],
        initial: 'choosing',
        on: { cancel },
        states: {
          choosing: {
            entry: [{ type: 'offerService' }],
            on: {
              'offer.made': {
                target: 'offered',
                actions: [
                  { type: 'set', params: { assigneeId: '$event.data.workerId' } },
                  { type: 'append', params: { field: 'offeredWorkerIds', value: '$event.data.workerId' } },
                  emit('service.offered', { serviceId: '$context.serviceId', workerId: '$context.assigneeId', offeredWorkerIds: '$context.offeredWorkerIds' }),
                  {
                    type: 'notify',
                    params: {
                      to: ['assigneeId'],
                      kind: 'service.offered',
                      title: 'Service request: {{context.serviceName}}',
                      body: 'A client asks for "{{context.serviceName}}"; you earn {{context.workerCreditCents}} cents. Accept or decline within {{context.offerSla}}.',
                    },
                  },
                ],
              },
              'offer.none': 'waiting',
            },
          },
          offered: {
            after: {
              '$context.offerSla': {
                target: 'choosing',
                actions: [emit('service.offer_expired', { workerId: '$context.assigneeId' }), { type: 'set', params: { assigneeId: null } }],
              },
            },
            on: {
              accept: {
                target: '#service_request.in_progress',
                guard: 'isAssignee',
                actions: [
                  emit('service.accepted', { workerId: '$context.assigneeId' }),
                  toClient('service.accepted', 'Your request is accepted: {{context.serviceName}}', 'A worker accepted your request for "{{context.serviceName}}".'),
                ],
              },
              decline: {
                target: 'choosing',
                guard: 'isAssignee',
                actions: [emit('service.declined', { workerId: '$context.assigneeId', reason: '$event.data.reason' }), { type: 'set', params: { assigneeId: null } }],
              },
            },
          },
          // Every qualified worker was asked: wait for a newly qualified one (published by the approval).
          waiting: {
            entry: [
              emit('service.unavailable', { serviceId: '$context.serviceId', offeredWorkerIds: '$context.offeredWorkerIds' }),
              {
                type: 'notify',
                params: {
                  roles: ['manager'],
                  kind: 'service.unavailable',
                  title: 'No worker for {{context.serviceName}}',
                  body: 'Request {{issue.id}} for "{{context.serviceName}}" waits: every qualified worker was asked. Approve another worker for the service.',
                },
              },
            ],
            on: { 'worker.qualified': 'choosing' },
          },
        },
      },
      in_progress: {
        on: {
          done: {
            target: 'reviewing',
            guard: 'isAssignee',
            actions: [
              { type: 'set', params: { outcome: 'done' } },
              emit('service.done', { workerId: '$context.assigneeId', priceCents: '$context.priceCents', workerCreditCents: '$context.workerCreditCents' }),
              { type: 'chargeClient' },
              { type: 'creditWorker' },
              toClient('service.done', 'Done: {{context.serviceName}}', 'Your request for "{{context.serviceName}}" is done; {{context.priceCents}} cents are charged. Please review it.'),
            ],
          },
          not_done: {
            target: 'reviewing',
            guard: 'isAssignee',
            actions: [
              { type: 'set', params: { outcome: 'not_done', notDoneReason: '$event.data.reason' } },
              emit('service.not_done', { workerId: '$context.assigneeId', reason: '$context.notDoneReason' }),
              toClient('service.not_done', 'Not done: {{context.serviceName}}', 'Your request for "{{context.serviceName}}" was not done: {{context.notDoneReason}}. Nothing is charged.'),
            ],
          },
        },
      },
      reviewing: {
        after: { '$context.reviewWindow': { target: 'closed' } },
        on: {
          review: {
            target: 'closed',
            guard: { type: 'isUser', params: { field: 'clientId' } },
            actions: [
              { type: 'set', params: { rating: '$event.data.rating', reviewComment: '$event.data.comment' } },
              emit('service.reviewed', { workerId: '$context.assigneeId', rating: '$context.rating', comment: '$context.reviewComment' }),
              { type: 'recordReview' },
            ],
          },
        },
      },
      closed: { type: 'final', entry: [emit('service.closed', { outcome: '$context.outcome', rating: '$context.rating' })] },
      cancelled: { type: 'final' },
    },
  },
};
