// The caller's in-app notifications: the list, marking one read, and a live Server-Sent Events stream.
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq, getTableColumns, isNull, sql } from 'drizzle-orm';
import { createMiddleware } from 'hono/factory';
import { streamSSE } from 'hono/streaming';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../db/client.js';
import {
  notifications,
  notificationsChannel,
  type NotificationAnnouncement,
  type NotificationRow,
} from '../db/schema/notifications.js';
import { authResponses, createRouter, IdParam, jsonContent, page, PageQuery, pages, validationResponses } from './common.js';
import type { ApiDeps, AppEnv } from './deps.js';
import { problemContent, problems } from './problem.js';
import { authenticate, signedIn } from './security.js';

export const NotificationSchema = z
  .object({
    id: z.uuid(),
    kind: z.string().openapi({ example: 'issue.assigned' }),
    title: z.string(),
    body: z.string(),
    issueId: z.uuid().nullable(),
    data: z.record(z.string(), z.unknown()),
    createdAt: z.iso.datetime(),
    readAt: z.iso.datetime().nullable(),
  })
  .openapi('Notification');
type NotificationJson = z.infer<typeof NotificationSchema>;

const notificationJson = (row: NotificationRow): NotificationJson => ({
  id: row.id,
  kind: row.kind,
  title: row.title,
  body: row.body,
  issueId: row.issueId,
  data: row.data,
  createdAt: row.createdAt.toISOString(),
  readAt: row.readAt?.toISOString() ?? null,
});

const NotificationsQuery = PageQuery.extend({
  unread: z.enum(['true', 'false']).optional().openapi({ description: '`true`: only notifications not yet marked read.' }),
});
const notificationPages = pages([notifications.createdAt, notifications.id], 'desc');
const StreamQuery = z.object({
  access_token: z.string().max(4096).optional().openapi({
    description: 'The bearer token, for EventSource clients that cannot set headers. Accepted on this route only.',
  }),
});

const keepAliveMs = 15_000;

type Deliver = (notification: NotificationJson) => void;

/**
 * One `LISTEN notifications` per API process and database, started with the first stream and fanned
 * out to each user's open streams. The activities announce each notification on commit (NOTIFY).
 */
class NotificationStreams {
  private readonly byUser = new Map<string, Set<Deliver>>();
  private listening: Promise<unknown> | undefined;

  constructor(private readonly deps: ApiDeps) {}

  get openCount(): number {
    let count = 0;
    for (const streams of this.byUser.values()) count += streams.size;
    return count;
  }

  /** Resolves once this process listens; a failed LISTEN is tried again by the next stream. */
  ready(): Promise<unknown> {
    this.listening ??= this.deps.database.sql
      .listen(notificationsChannel, (payload) => void this.announce(payload))
      .catch((error: unknown) => {
        this.listening = undefined;
        throw error;
      });
    return this.listening;
  }

  /** Adds a stream of the user; the returned function removes it. */
  open(userId: string, deliver: Deliver): () => void {
    const streams = this.byUser.get(userId) ?? new Set<Deliver>();
    streams.add(deliver);
    this.byUser.set(userId, streams);
    return () => {
      streams.delete(deliver);
      if (streams.size === 0 && this.byUser.get(userId) === streams) this.byUser.delete(userId);
    };
  }

  private async announce(payload: string): Promise<void> {
    try {
      const { userId, id } = JSON.parse(payload) as NotificationAnnouncement;
      if (!this.byUser.get(userId)?.size) return;
      const [row] = await this.deps.database.db.select().from(notifications).where(eq(notifications.id, id));
      if (!row) return;
      const notification = notificationJson(row);
      for (const deliver of this.byUser.get(userId) ?? []) deliver(notification);
    } catch (error) {
      this.deps.log.error(`could not push notification ${payload}`, error);
    }
  }
}

const streamsByDatabase = new WeakMap<Database, NotificationStreams>();

function notificationStreams(deps: ApiDeps): NotificationStreams {
  let streams = streamsByDatabase.get(deps.database);
  if (!streams) {
    streams = new NotificationStreams(deps);
    streamsByDatabase.set(deps.database, streams);
  }
  return streams;
}

/** How many notification streams this process serves on the database (for operators and tests). */
export const openNotificationStreams = (database: Database): number => streamsByDatabase.get(database)?.openCount ?? 0;

/**
 * EventSource cannot set headers, so on the stream route the token may also come as `?access_token=`;
 * it then goes through the very same check as the Authorization header. A header wins over the query.
 */
function authenticateStream(deps: ApiDeps) {
  const byHeader = authenticate(deps);
  return createMiddleware<AppEnv>(async (c, next) => {
    const token = c.req.query('access_token');
    if (token !== undefined && !c.req.header('Authorization')) {
      const headers = new Headers(c.req.raw.headers);
      try {
        headers.set('Authorization', `Bearer ${token}`);
      } catch {
        throw problems.unauthorized('the access token is invalid');
      }
      c.req.raw = new Request(c.req.url, { method: c.req.method, headers });
    }
    return byHeader(c, next);
  });
}

export function notificationRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/notifications',
      operationId: 'listNotifications',
      tags: ['notifications'],
      summary: 'The caller’s notifications, newest first',
      ...signedIn(deps),
      request: { query: NotificationsQuery },
      responses: {
        200: jsonContent(page(NotificationSchema), 'A page of notifications'),
        401: authResponses[401],
        ...validationResponses,
      },
    }),
    async (c) => {
      const { after, limit, unread } = c.req.valid('query');
      const rows = await db
        .select(notificationPages.select(getTableColumns(notifications)))
        .from(notifications)
        .where(
          and(
            eq(notifications.userId, c.get('user').id),
            unread === 'true' ? isNull(notifications.readAt) : undefined,
            notificationPages.after(after),
          ),
        )
        .orderBy(...notificationPages.orderBy)
        .limit(notificationPages.fetch(limit));
      const { items, nextCursor } = notificationPages.page(rows, limit);
      return c.json({ items: items.map(notificationJson), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/notifications/{id}/read',
      operationId: 'markNotificationRead',
      tags: ['notifications'],
      summary: 'Mark one of the caller’s notifications read (again: no change)',
      ...signedIn(deps),
      request: { params: IdParam },
      responses: {
        200: jsonContent(NotificationSchema, 'The notification, read'),
        401: authResponses[401],
        404: problemContent('No such notification of the caller'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const [row] = await db
        .update(notifications)
        .set({ readAt: sql`coalesce(${notifications.readAt}, now())` })
        .where(and(eq(notifications.id, id), eq(notifications.userId, c.get('user').id)))
        .returning();
      // Someone else's notification is answered like a missing one: ids are not probed.
      if (!row) throw problems.notFound(`notification ${id}`);
      return c.json(notificationJson(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/notifications/stream',
      operationId: 'streamNotifications',
      tags: ['notifications'],
      summary: 'The caller’s new notifications, live (Server-Sent Events)',
      description:
        'Each new notification arrives as an event named `notification` whose data is the Notification JSON and whose id is ' +
        'its id. A `: keep-alive` comment is sent every 15 s. Browsers pass the token as `?access_token=`; ' +
        'notifications missed while disconnected are in `GET /notifications`.',
      // Signed in as everywhere, but the token may come in the query too (authenticateStream).
      security: [{ bearer: [] }],
      middleware: [authenticateStream(deps)],
      request: { query: StreamQuery },
      responses: {
        200: {
          description: 'An endless event stream',
          content: {
            'text/event-stream': {
              schema: z.string().openapi({
                example: 'event: notification\ndata: {"id":"…","kind":"issue.assigned","title":"…"}\nid: …\n\n',
              }),
            },
          },
        },
        401: authResponses[401],
        ...validationResponses,
      },
    }),
    async (c) => {
      const user = c.get('user');
      const streams = notificationStreams(deps);
      await streams.ready();
      return streamSSE(c, async (stream) => {
        const disconnected = new AbortController();
        stream.onAbort(() => disconnected.abort());
        const close = streams.open(user.id, (notification) => {
          void stream.writeSSE({ event: 'notification', id: notification.id, data: JSON.stringify(notification) });
        });
        try {
          // The first bytes send the headers: the client knows it is subscribed from here on.
          await stream.write(': connected\n\n');
          while (!disconnected.signal.aborted) {
            await sleep(keepAliveMs, undefined, { signal: disconnected.signal }).catch(() => {});
            if (!disconnected.signal.aborted) await stream.write(': keep-alive\n\n');
          }
        } finally {
          close();
        }
      });
    },
  );

  return app;
}
