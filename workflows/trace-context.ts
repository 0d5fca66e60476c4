// How workflow code keeps the work a message causes in that message's trace. An update or signal is handled in the
// span of the call that sent it, but an issue does the work later, in its main loop (one event at a time), where
// the only span is the run's: so a handler notes its tracing context with the event (`currentCause`), and the loop
// settles the event inside a span under it (`traced`). The steps, activities and SQL of `POST /tasks/:id/complete`
// then hang under that request.
//
// Workers with tracing on run the traced bundle, whose interceptors (workflows/tracing-interceptors.ts) put a
// `WorkflowTracing` on the workflow's own global object. Without it (tracing off, or the plain bundle) these
// functions do nothing and `traced` runs its work directly. Either way `traced` answers the very promise its work
// answers, so tracing adds no await and changes nothing a replay could see.

/** What workflows/tracing-interceptors.ts installs for each workflow of a traced worker. */
export interface WorkflowTracing {
  /** The tracing context current here, opaque: in a message's handler, that message's span. */
  current(): unknown;
  /** The context the run was started with (the starter's span), when the start carried one. */
  started(): unknown;
  /** Runs `work` in a new span `name` under `cause`; without a cause, in a new trace linked to the current span. */
  span<T>(name: string, cause: unknown, work: () => Promise<T>): Promise<T>;
}

/** The global the traced bundle's interceptors set (each workflow of a worker has its own global object). */
export const workflowTracingKey = '__atesWorkflowTracing';

const installed = (): WorkflowTracing | undefined => (globalThis as { [workflowTracingKey]?: WorkflowTracing })[workflowTracingKey];

/** The tracing context of the message being handled, to settle what it brought in later; undefined without tracing. */
export const currentCause = (): unknown => installed()?.current();

/** The context the run was started with: what the first steps of a new issue hang under. */
export const startCause = (): unknown => installed()?.started();

/** `work()` itself, inside the span `name` under `cause` when tracing is on. */
export function traced<T>(name: string, cause: unknown, work: () => Promise<T>): Promise<T> {
  const tracing = installed();
  return tracing ? tracing.span(name, cause, work) : work();
}
