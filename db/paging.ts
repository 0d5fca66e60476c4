// Keyset paging, one implementation for every list the API pages.
//
// A page is ordered by a sort key of columns whose last one is unique (the tie-breaker), all in one direction.
// The cursor is opaque to clients: base64url of the JSON array of the last row's key values as text, taken in SQL
// (timestamps with all their microseconds), so the next page starts exactly after that row. A JavaScript Date
// would drop the microseconds PostgreSQL keeps and skip or repeat the rows of that millisecond.
import { asc, desc, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, SelectedFields } from 'drizzle-orm/pg-core';

/** How a key column is written into a cursor, checked when read back, and cast in the comparison. */
interface KeyKind {
  /** The value as canonical text, in SQL. */
  text(column: PgColumn): SQL;
  /** Whether a decoded cursor value is one `text` could have produced (so the cast cannot fail). */
  valid(value: string): boolean;
  cast: string;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const int64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

const kinds = {
  // UTC with six fractional digits: every microsecond PostgreSQL stores.
  timestamptz: {
    text: (column) => sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    valid(value) {
      if (!timestampPattern.test(value) || value.startsWith('0000')) return false;
      // Round-trips through a Date only when every field is in range (no 31 February, no hour 24).
      const milliseconds = `${value.slice(0, 23)}Z`;
      const date = new Date(milliseconds);
      return !Number.isNaN(date.getTime()) && date.toISOString() === milliseconds;
    },
    cast: 'timestamptz',
  },
  uuid: { text: (column) => sql`${column}::text`, valid: (value) => uuidPattern.test(value), cast: 'uuid' },
  // Compared in the database's collation, the same one its ORDER BY uses.
  text: { text: (column) => sql`${column}::text`, valid: (value) => value.length <= 200, cast: 'text' },
  integer: {
    text: (column) => sql`${column}::text`,
    valid: (value) => /^-?\d{1,19}$/.test(value) && BigInt(value) >= int64.min && BigInt(value) <= int64.max,
    cast: 'bigint',
  },
  // A transaction id (the domain event log's order): unsigned 64-bit.
  xid8: {
    text: (column) => sql`${column}::text`,
    valid: (value) => /^\d{1,20}$/.test(value) && BigInt(value) < 2n ** 64n,
    cast: 'xid8',
  },
} satisfies Record<string, KeyKind>;

function kindOf(column: PgColumn): KeyKind {
  const type = column.getSQLType();
  if (/^timestamp\s*(\(\d\))? with time zone$/.test(type)) return kinds.timestamptz;
  if (type === 'uuid') return kinds.uuid;
  if (type === 'text') return kinds.text;
  if (/^(smallint|integer|bigint|smallserial|serial|bigserial)$/.test(type)) return kinds.integer;
  if (type === 'xid8') return kinds.xid8;
  throw new Error(`keyset paging does not support column ${column.name} of type ${type}`);
}

export interface KeysetOptions {
  /** The sort key, most significant first; the last column must be unique. */
  columns: readonly [PgColumn, ...PgColumn[]];
  order: 'asc' | 'desc';
  /** The caller's error for a cursor it did not hand out (e.g. a 422 naming the query field). */
  invalid: () => Error;
}

export interface Keyset {
  /** For `.orderBy(...)`. */
  orderBy: SQL[];
  /** Selects the row's fields as `row` and its sort key as `key`; pass the rows to `page`. */
  select<T extends SelectedFields>(fields: T): { row: T; key: SQL<string[]> };
  /** Rows to fetch for a page of `limit`: one more, to learn whether another page follows. */
  fetch(limit: number): number;
  /** The condition for rows after the cursor; undefined without one. Throws `invalid()` for a bad cursor. */
  after(cursor: string | undefined): SQL | undefined;
  /** The condition for rows after a key given as text values (a list whose cursor is public, like a sequence number). Throws `invalid()` for a bad one. */
  afterKey(values: readonly string[]): SQL;
  /** The page from rows fetched with `fetch(limit)`: at most `limit` items, and a cursor when more follow. */
  page<T>(rows: readonly { row: T; key: string[] }[], limit: number): { items: T[]; nextCursor: string | null };
}

export function keyset({ columns, order, invalid }: KeysetOptions): Keyset {
  const keyKinds = columns.map(kindOf);
  const direction = order === 'asc' ? asc : desc;
  const key = sql<string[]>`array[${sql.join(
    columns.map((column, i) => keyKinds[i]!.text(column)),
    sql`, `,
  )}]`;

  const valid = (values: readonly unknown[]): values is string[] =>
    values.length === columns.length && values.every((value, i) => typeof value === 'string' && keyKinds[i]!.valid(value));

  const afterKey = (values: readonly string[]): SQL => {
    if (!valid(values)) throw invalid();
    const left = sql.join([...columns], sql`, `);
    const right = sql.join(
      values.map((value, i) => sql`${value}::${sql.raw(keyKinds[i]!.cast)}`),
      sql`, `,
    );
    // A row comparison: the index on the key columns serves it, and the last column breaks ties.
    return order === 'asc' ? sql`(${left}) > (${right})` : sql`(${left}) < (${right})`;
  };

  const decode = (cursor: string): string[] => {
    let values: unknown;
    try {
      values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    } catch {
      throw invalid();
    }
    if (!Array.isArray(values) || !valid(values)) throw invalid();
    return values;
  };

  return {
    orderBy: columns.map((column) => direction(column)),
    select: (fields) => ({ row: fields, key }),
    fetch: (limit) => limit + 1,
    after: (cursor) => (cursor === undefined ? undefined : afterKey(decode(cursor))),
    afterKey,
    page(rows, limit) {
      const shown = rows.slice(0, limit);
      const last = shown.at(-1);
      return {
        items: shown.map(({ row }) => row),
        nextCursor: rows.length > limit && last ? Buffer.from(JSON.stringify(last.key)).toString('base64url') : null,
      };
    },
  };
}
