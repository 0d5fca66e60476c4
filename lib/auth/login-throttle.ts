// Login throttling: consecutive failed logins per account and per client address, with an exponential back-off.
// Without it a password can be guessed as fast as the API answers (200 wrong passwords took 9.8 s). The counts
// live in PostgreSQL, not in memory, so that every API process of a scaled-out deployment shares them: a count
// per process would multiply the guesses by the number of processes.
import { isIPv6 } from 'node:net';
import { eq, inArray, sql, type SQL } from 'drizzle-orm';
import { transaction, type Db } from '../../db/client.js';
import { loginThrottles } from '../../db/schema/auth.js';

/** A counted key, how many consecutive failures it may have before each further one blocks it, and how long one is remembered. */
export interface ThrottleKey {
  key: string;
  freeFailures: number;
  /** A key whose last failure is older than this starts counting again from one. */
  forgetAfterSeconds: number;
}

/** Five guesses, then 2 s, 4 s, 8 s … of waiting after each further failure, for the account whoever tries. */
export const accountKey = (email: string): ThrottleKey => ({ key: `account:${email.toLowerCase()}`, freeFailures: 5, forgetAfterSeconds: 24 * 3600 });

/**
 * Looser: one office behind NAT shares an address, and one person mistyping must not lock the others out. Its count
 * is not reset by a successful login (an attacker would log into an account of their own between guesses at others'),
 * only forgotten a quarter of an hour after its last failure.
 */
export const addressKey = (address: string): ThrottleKey => ({ key: `address:${networkOf(address)}`, freeFailures: 20, forgetAfterSeconds: 15 * 60 });

/** The longest block, however many failures: long enough to make guessing hopeless, short enough for the owner. */
export const maxBlockSeconds = 15 * 60;

/**
 * The address that is throttled: an IPv4-mapped IPv6 address as the IPv4 address, and any other IPv6 address as its
 * /64 network, since one host usually has a whole /64 to pick a fresh address from for every guess.
 */
export function networkOf(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  const bare = address.replace(/%.*$/, '');
  if (!isIPv6(bare)) return address;
  const [head = '', tail] = bare.split('::');
  const groups = head ? head.split(':') : [];
  if (tail !== undefined) {
    const rest = tail ? tail.split(':') : [];
    groups.push(...Array<string>(Math.max(0, 8 - groups.length - rest.length)).fill('0'), ...rest);
  }
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

/** What the throttle says about one login attempt. */
export type LoginAttempt =
  /** A key is blocked: the attempt was not counted and the password must not be checked. */
  | { refused: true; retryAfterSeconds: number }
  /** Counted as a failure until it succeeds; should it fail, it has blocked the keys for `blocksForSeconds` (0: not). */
  | { refused: false; blocksForSeconds: number };

interface Row extends Record<string, unknown> {
  key: string;
  counted: boolean;
  /** Whole seconds, at least 1, the key stays blocked; null when it is not blocked. */
  seconds: number | null;
}

/** Rolls back the counting of an attempt that a blocked key refuses. */
class Refused extends Error {
  constructor(readonly seconds: number) {
    super('login attempt refused');
  }
}

/**
 * Starts an attempt: refuses it while any key is blocked, and otherwise counts it against every key *before* the
 * password is checked. Counting first means parallel guesses cannot all slip through while the first ones are still
 * being checked: the sixth concurrent attempt on an account already sees five. One upsert, so concurrent attempts on
 * a key queue on its row and each adds exactly one; in a transaction, so an attempt refused by one key (blocked by a
 * concurrent attempt after the statement began) counts against none. Keys are locked in sorted order: no deadlocks.
 */
export async function beginLoginAttempt(db: Db, keys: ThrottleKey[]): Promise<LoginAttempt> {
  const sorted = [...keys].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const attempt = sql.join(
    sorted.map(({ key, freeFailures, forgetAfterSeconds }) => sql`(${key}::text, ${freeFailures}::int, ${forgetAfterSeconds}::int)`),
    sql`, `,
  );
  // The new count: one again when the last failure is long past.
  const forgetAfter = sql`(select make_interval(secs => a.forget) from attempt a where a.key = t.key)`;
  const failures = sql`(case when t.updated_at < now() - ${forgetAfter} then 1 else t.failures + 1 end)`;
  const free = sql`(select a.free from attempt a where a.key = t.key)`;
  const remaining = (until: SQL) => sql`case when ${until} > now() then greatest(1, ceil(extract(epoch from ${until} - now())))::int end`;
  try {
    return await transaction(db, 'auth.login-attempt', async (tx) => {
      const rows = await tx.execute<Row>(sql`
        with attempt (key, free, forget) as (values ${attempt}),
        blocked as (
          select t.key, t.blocked_until from login_throttles t join attempt a on a.key = t.key where t.blocked_until > now()
        ),
        counted as (
          insert into login_throttles as t (key, failures, blocked_until, updated_at)
          select a.key, 1, null, now() from attempt a where not exists (select from blocked)
          on conflict (key) do update set
            failures = ${failures},
            blocked_until = case
              when ${failures} > ${free}
              then now() + make_interval(secs => least(power(2, least(${failures} - ${free}, 30)), ${maxBlockSeconds}))
            end,
            updated_at = now()
          -- Read on the row as it is now, after any concurrent attempt on it: a key blocked meanwhile is not counted.
          where t.blocked_until is null or t.blocked_until <= now()
          returning t.key, t.blocked_until
        )
        select a.key, c.key is not null as counted,
          case when c.key is not null then ${remaining(sql`c.blocked_until`)} else ${remaining(sql`b.blocked_until`)} end as seconds
        from attempt a left join counted c on c.key = a.key left join blocked b on b.key = a.key
      `);
      const seconds = Math.max(0, ...rows.map((row) => row.seconds ?? 0));
      if (rows.some((row) => !row.counted)) throw new Refused(seconds);
      return { refused: false, blocksForSeconds: seconds } as const;
    });
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    // Zero: blocked by an attempt that committed after the statement began; read how long for.
    const seconds = error.seconds || (await blockedFor(db, keys));
    return { refused: true, retryAfterSeconds: Math.max(1, seconds) };
  }
}

async function blockedFor(db: Db, keys: ThrottleKey[]): Promise<number> {
  const [row] = await db
    .select({ seconds: sql<number | null>`ceil(extract(epoch from max(${loginThrottles.blockedUntil}) - now()))::int` })
    .from(loginThrottles)
    .where(
      inArray(
        loginThrottles.key,
        keys.map(({ key }) => key),
      ),
    );
  return row?.seconds ?? 1;
}

/**
 * A successful login: its account's key starts from zero again. Its address's key keeps its failures (see
 * `addressKey`) but not this attempt, counted before the password was checked, nor a block only it started.
 */
export async function settleSuccessfulLogin(db: Db, account: ThrottleKey, address: ThrottleKey): Promise<void> {
  await transaction(db, 'auth.login-settle', async (tx) => {
    await tx.delete(loginThrottles).where(eq(loginThrottles.key, account.key));
    await tx
      .update(loginThrottles)
      .set({
        failures: sql`greatest(${loginThrottles.failures} - 1, 0)`,
        blockedUntil: sql`case when ${loginThrottles.failures} - 1 > ${address.freeFailures} then ${loginThrottles.blockedUntil} end`,
      })
      .where(eq(loginThrottles.key, address.key));
  });
}
