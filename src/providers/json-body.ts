// Serialising a request body again without changing what the client wrote. JSON.parse reads
// numbers as doubles, so JSON.stringify of the parsed body turns an integer past 2^53 into
// another one (a seed of 9007199254740993 went upstream as …992) and an overflowing literal
// (1e400 in a JSON schema) into null. A body whose text may hold such numbers is written
// again with each one's original text, wherever a filter left its value alone.

/** A cheap first look: an integer of 16+ digits or a 3-digit exponent. Matches inside strings only cost the careful look. */
const MAYBE_LOSSY = /\d{16}|[eE][+-]?\d{3}/

/**
 * The body as JSON text again. `raw`: the bytes it was parsed from. Numbers that a double
 * cannot hold keep their original text, so the upstream reads what the client sent.
 */
export function serializeBody(body: Record<string, unknown>, raw: Buffer): string {
  if (!MAYBE_LOSSY.test(raw.toString('latin1'))) return JSON.stringify(body)
  const tokens = lossyNumbers(raw.toString('utf8'))
  return tokens === undefined ? JSON.stringify(body) : write(body, '', tokens)!
}

/**
 * The number literals of a JSON text that a double does not hold exactly, by their JSON
 * pointer (`/response_format/json_schema/schema/maximum`); undefined when there are none.
 * The text must be valid JSON (it was parsed already). A repeated key's last value wins, as
 * in JSON.parse.
 */
export function lossyNumbers(text: string): Map<string, string> | undefined {
  const scan = new Scanner(text)
  scan.value('')
  return scan.found
}

function isLossy(literal: string): boolean {
  const n = Number(literal)
  if (!Number.isFinite(n)) return true
  // Fractions and exponents round to the nearest double, which reads back as the same number.
  if (/[.eE]/.test(literal)) return false
  return !Number.isSafeInteger(n) && BigInt(literal) !== BigInt(n)
}

// Character codes the scanner looks at.
const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const MINUS = 0x2d
const ZERO = 0x30
const NINE = 0x39

class Scanner {
  private i = 0
  found: Map<string, string> | undefined = undefined

  constructor(private readonly s: string) {}

  value(path: string): void {
    this.space()
    const c = this.s.charCodeAt(this.i)
    if (c === OPEN_BRACE) return this.object(path)
    if (c === OPEN_BRACKET) return this.array(path)
    if (c === QUOTE) {
      this.string()
      return
    }
    const start = this.i
    while (this.i < this.s.length && !isDelimiter(this.s.charCodeAt(this.i))) this.i++
    if (c !== MINUS && (c < ZERO || c > NINE)) return // true, false, null
    const literal = this.s.slice(start, this.i)
    if (isLossy(literal)) (this.found ??= new Map()).set(path, literal)
  }

  private object(path: string): void {
    this.i++ // {
    this.space()
    if (this.s.charCodeAt(this.i) === CLOSE_BRACE) {
      this.i++
      return
    }
    for (;;) {
      this.space()
      const key = JSON.parse(this.string()) as string
      this.space()
      this.i++ // :
      this.value(`${path}/${pointerSegment(key)}`)
      this.space()
      if (this.s.charCodeAt(this.i++) === CLOSE_BRACE) return
    }
  }

  private array(path: string): void {
    this.i++ // [
    this.space()
    if (this.s.charCodeAt(this.i) === CLOSE_BRACKET) {
      this.i++
      return
    }
    for (let index = 0; ; index++) {
      this.value(`${path}/${index}`)
      this.space()
      if (this.s.charCodeAt(this.i++) === CLOSE_BRACKET) return
    }
  }

  /** Skips a string literal; returns its text, quotes included. */
  private string(): string {
    const start = this.i++
    for (;;) {
      const c = this.s.charCodeAt(this.i++)
      if (c === BACKSLASH) this.i++
      else if (c === QUOTE || Number.isNaN(c)) return this.s.slice(start, this.i)
    }
  }

  private space(): void {
    for (;;) {
      const c = this.s.charCodeAt(this.i)
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return
      this.i++
    }
  }
}

function isDelimiter(c: number): boolean {
  return c === 0x2c || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
function pointerSegment(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replaceAll('~', '~0').replaceAll('/', '~1') : key
}

/** JSON.stringify, except that a number still equal to its original literal is written as that literal. */
function write(value: unknown, path: string, literals: ReadonlyMap<string, string>): string | undefined {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'number': {
      const literal = literals.get(path)
      return literal !== undefined && Number(literal) === value ? literal : JSON.stringify(value)
    }
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => write(v, `${path}/${i}`, literals) ?? 'null').join(',')}]`
      }
      const parts: string[] = []
      for (const [k, v] of Object.entries(value)) {
        const text = write(v, `${path}/${pointerSegment(k)}`, literals)
        if (text !== undefined) parts.push(`${JSON.stringify(k)}:${text}`)
      }
      return `{${parts.join(',')}}`
    }
    default:
      // undefined, functions, symbols: left out, as JSON.stringify does.
      return undefined
  }
}

const USAGE_MEMBER = Buffer.from('"stream_options":{"include_usage":true},')

/**
 * The client's bytes with `"stream_options":{"include_usage":true}` put in as the object's
 * first member: for a body that has no stream_options, nothing else is touched or written
 * again. undefined when the text is not a non-empty object (then serialise it).
 */
export function withUsageRequest(raw: Buffer): Buffer | undefined {
  let open = 0
  while (open < raw.length && isSpaceByte(raw[open]!)) open++
  if (raw[open] !== OPEN_BRACE) return undefined
  let next = open + 1
  while (next < raw.length && isSpaceByte(raw[next]!)) next++
  if (next >= raw.length || raw[next] === CLOSE_BRACE) return undefined
  return Buffer.concat([raw.subarray(0, open + 1), USAGE_MEMBER, raw.subarray(open + 1)])
}

function isSpaceByte(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}
