// Parameters of catalog actions may refer to the issue's data:
//   "$context.assigneeId"          the whole value at that path
//   "Task {{context.title}} is yours"  interpolated into a string
// Paths start at `context`, `event` (type, data, actor) or `issue` (id, type).

export interface ExpressionScope {
  context: Record<string, unknown>;
  event: unknown;
  issue: { id: string; type: string };
}

const wholePath = /^\$((?:context|event|issue)(?:\.[A-Za-z_][\w-]*)*)$/;
const interpolation = /\{\{\s*((?:context|event|issue)(?:\.[A-Za-z_][\w-]*)*)\s*\}\}/g;

/** Own data properties only: `context.constructor` or `context.__proto__` find nothing, as on a plain record. */
function lookup(scope: ExpressionScope, path: string): unknown {
  let value: unknown = scope;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

export function resolveExpressions<T>(value: T, scope: ExpressionScope): T {
  if (typeof value === 'string') {
    const whole = wholePath.exec(value);
    if (whole?.[1]) return lookup(scope, whole[1]) as T;
    return value.replace(interpolation, (_, path: string) => String(lookup(scope, path) ?? '')) as T;
  }
  if (Array.isArray(value)) return value.map((item) => resolveExpressions(item, scope)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolveExpressions(item, scope)])) as T;
  }
  return value;
}

/** Paths an expression string refers to that do not start at a known root (for validation). */
export function badExpressionPaths(value: unknown): string[] {
  if (typeof value === 'string') {
    const bad: string[] = [];
    if (value.startsWith('$') && !wholePath.test(value)) bad.push(value);
    for (const match of value.matchAll(/\{\{([^}]*)\}\}/g)) {
      if (!/^\s*(context|event|issue)(\.[A-Za-z_][\w-]*)*\s*$/.test(match[1] ?? '')) bad.push(match[0]);
    }
    return bad;
  }
  if (Array.isArray(value)) return value.flatMap(badExpressionPaths);
  if (value && typeof value === 'object') return Object.values(value).flatMap(badExpressionPaths);
  return [];
}
