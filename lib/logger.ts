// The product's logger: JSON lines (pino) for log collectors, one readable line per entry on a terminal. Either way
// info and debug go to stdout, warnings and errors to stderr, and an entry may carry fields (`issueId`,
// `workflowId`, …) a collector can filter by.
import pino from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** `auto`: JSON unless stdout is a terminal. */
export type LogFormat = 'auto' | 'json' | 'pretty';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, error?: unknown, fields?: LogFields): void;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(level: LogLevel, name = 'ates', format: LogFormat = 'auto'): Logger {
  const json = format === 'json' || (format === 'auto' && !process.stdout.isTTY);
  return json ? jsonLogger(level, name) : prettyLogger(level, name);
}

function jsonLogger(level: LogLevel, name: string): Logger {
  const streams = pino.multistream(
    [
      { level: 'debug', stream: process.stdout },
      { level: 'warn', stream: process.stderr },
    ],
    // Each entry to the one stream of the highest level it reaches: warnings to stderr only.
    { dedupe: true },
  );
  const log = pino({ name, level, timestamp: pino.stdTimeFunctions.isoTime, base: { pid: process.pid } }, streams);
  return {
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, error, fields) => log.error({ ...fields, ...(error === undefined ? {} : { err: error }) }, message),
  };
}

function prettyLogger(level: LogLevel, name: string): Logger {
  const write = (at: LogLevel, message: string, fields?: LogFields) => {
    if (order[at] < order[level]) return;
    const extra = Object.entries(fields ?? {})
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join('');
    const line = `${new Date().toISOString()} ${at.toUpperCase().padEnd(5)} [${name}] ${message}${extra}\n`;
    (at === 'error' || at === 'warn' ? process.stderr : process.stdout).write(line);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, e, f) => write('error', e ? `${m}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` : m, f),
  };
}

/**
 * For the SDK's workflow bundler (webpack): its progress lines would flood a worker's, test's or bench's output;
 * only its errors are worth showing.
 */
export const quietBundlerLogger = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (message: string) => console.error(message),
  log: () => {},
};
