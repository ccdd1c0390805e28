// Reads `perf script -F pid,ip,sym` output (call stacks, leaf first, a blank line between
// samples) and sums the samples of chosen processes into categories and functions. A sample
// belongs to the first category one of its frames matches, from the leaf up, so Node's
// header checks called from our code count as "response head", not as our code.

/** A named group of frames: the first matching frame, from the leaf up, claims the sample. */
export interface Category {
  readonly name: string
  readonly frames: RegExp
}

/** The categories of the gateway's request path that a feature's cost usually lands in. */
export const GATEWAY_CATEGORIES: readonly Category[] = [
  { name: 'limits and budgets', frames: /\/src\/limits\/|\/src\/tokens\// },
  { name: 'key check', frames: /\/src\/auth\// },
  {
    name: 'response head',
    frames: /_storeHeader|processHeader node:_http_outgoing|writeHead|clientResponseHeaders|pushResponseHeaders|pushHeaders|formatReset/,
  },
  { name: 'socket writes', frames: /clearBuffer|StreamBase::Writev|writevGeneric|writeGeneric/ },
  { name: 'garbage collection', frames: /Heap::|Scavenge|MarkCompact|Sweeper|ConcurrentMarking|GCTracer/ },
]

/** What one process spent its samples on. */
export interface ProcessSamples {
  total: number
  readonly byCategory: Map<string, number>
  /** Samples by the innermost JavaScript function on the stack (where the time was spent, inlined code included). */
  readonly byFunction: Map<string, number>
}

/** Everything else: the part no category claims. */
export const REST = 'rest'

/**
 * Sums samples line by line (feed it perf script's lines; call end() after the last).
 * Samples of processes other than `pids` are skipped.
 */
export class SampleTally {
  readonly processes = new Map<number, ProcessSamples>()
  private pid = -1
  private frames: string[] = []

  constructor(
    pids: readonly number[],
    private readonly categories: readonly Category[] = GATEWAY_CATEGORIES
  ) {
    for (const pid of pids) this.processes.set(pid, { total: 0, byCategory: new Map(), byFunction: new Map() })
  }

  line(text: string): void {
    const trimmed = text.trim()
    if (trimmed === '') return this.flush()
    // A sample's header is its pid alone (-F pid puts nothing else on that line); frames follow.
    if (/^\d+$/.test(trimmed)) {
      this.flush()
      this.pid = Number(trimmed)
      return
    }
    // "7f604b125cc8 JS:*authenticate file:///…/authenticate.js:6:60": address, then the symbol.
    const space = trimmed.indexOf(' ')
    this.frames.push(space < 0 ? trimmed : trimmed.slice(space + 1))
  }

  end(): void {
    this.flush()
  }

  private flush(): void {
    const p = this.processes.get(this.pid)
    if (p !== undefined && this.frames.length > 0) {
      p.total++
      const category = this.categoryOf(this.frames)
      p.byCategory.set(category, (p.byCategory.get(category) ?? 0) + 1)
      const js = this.frames.find((f) => f.startsWith('JS:'))
      if (js !== undefined) {
        const name = shortName(js)
        p.byFunction.set(name, (p.byFunction.get(name) ?? 0) + 1)
      }
    }
    this.pid = -1
    this.frames = []
  }

  private categoryOf(frames: readonly string[]): string {
    for (const f of frames) for (const c of this.categories) if (c.frames.test(f)) return c.name
    return REST
  }
}

/** "JS:*authenticate file:///work/x/dist/src/auth/authenticate.js:6:60" → "authenticate src/auth/authenticate.js". */
export function shortName(frame: string): string {
  const m = /^JS:[*~^+-]?(\S*)\s*(.*?)(?::\d+:\d+)?$/.exec(frame)
  if (m === null) return frame
  const fn = m[1] === '' ? '(anonymous)' : m[1]!
  const where = m[2]!.replace(/^file:\/\//, '').replace(/^.*\/(?:dist\/)?(src\/|node_modules\/)/, '$1')
  return where === '' ? fn : `${fn} ${where}`
}
