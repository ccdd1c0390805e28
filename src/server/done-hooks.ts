// The onResponse hooks (access log, metrics, usage, limit settlement) of requests that ended,
// run together once per event-loop turn rather than one request's at a time. Nothing waits
// for them: the response has ended. Run back to back, their code is fetched into the CPU's
// caches once per turn instead of once per request, a millisecond and dozens of other
// requests apart (docs/auth-limits-cost.md: what a hook costs is mostly that first fetch).
// They still run before the client can send anything more: the turn's check phase comes
// before the next poll for I/O.
import type { DoneHook } from './hooks.js'
import type { RequestContext } from './context.js'

let contexts: RequestContext[] = []
let hookLists: (readonly DoneHook[])[] = []

/** Runs `hooks` for `ctx` later in this event-loop turn, with the turn's other ended requests. */
export function runDoneHooksSoon(hooks: readonly DoneHook[], ctx: RequestContext): void {
  if (contexts.length === 0) setImmediate(runDone)
  contexts.push(ctx)
  hookLists.push(hooks)
}

/** Runs the hooks still waiting now: a gateway that stops closes its access log and usage store next. */
export function flushDoneHooks(): void {
  runDone()
}

/** Hook by hook across the batch, so each hook's code runs for every request while warm. */
function runDone(): void {
  if (contexts.length === 0) return
  // Taken whole: a request ending inside a hook starts the next batch.
  const ctxs = contexts
  const lists = hookLists
  contexts = []
  hookLists = []
  const n = ctxs.length
  let hooks = lists[0]!
  let sameHooks = true
  for (let i = 1; i < n; i++) if (lists[i] !== hooks) sameHooks = false
  if (sameHooks) {
    for (let h = 0; h < hooks.length; h++) {
      const hook = hooks[h]!
      for (let i = 0; i < n; i++) runOne(hook, ctxs[i]!)
    }
  } else {
    // Requests of several gateways in one process (tests): each its own list.
    for (let i = 0; i < n; i++) {
      hooks = lists[i]!
      for (let h = 0; h < hooks.length; h++) runOne(hooks[h]!, ctxs[i]!)
    }
  }
}

function runOne(hook: DoneHook, ctx: RequestContext): void {
  try {
    hook(ctx)
  } catch {
    // A reporting hook must never take a request down with it.
  }
}
