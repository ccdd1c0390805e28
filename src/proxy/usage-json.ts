// Finding and cutting the `usage` member in JSON bytes, without parsing or re-encoding the
// rest: the usage taps read it off answers and streams, and take it out of a content chunk
// whose client did not ask for usage.

const USAGE_KEY = Buffer.from('"usage"')
const DATA = Buffer.from('data:')

/** Does `"usage"` followed by an object (not null) occur? Searched natively, no string made. */
export function hasUsageObject(buf: Buffer): boolean {
  let i = buf.indexOf('"usage"')
  while (i !== -1) {
    let j = i + 7
    while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x3a)) j++
    if (buf[j] === 0x7b) return true
    i = buf.indexOf('"usage"', j)
  }
  return false
}

/**
 * The value of the last `"usage": {…}` in a JSON document, parsed alone; undefined when there
 * is none or it does not parse. The bytes `"usage"` cannot occur inside a JSON string (its
 * quotes would be escaped), so a match is always a key; the last one is the top-level usage
 * in every OpenAI-compatible server's answer, and toUsage() checks its shape.
 */
export function usageObjectIn(buf: Buffer): unknown {
  const at = buf.lastIndexOf(USAGE_KEY)
  if (at === -1) return undefined
  let i = at + USAGE_KEY.length
  while (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09) i++
  if (buf[i] !== 0x3a) return undefined
  i++
  while (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09) i++
  if (buf[i] !== 0x7b) return undefined
  const end = objectEnd(buf, i)
  if (end === -1) return undefined
  try {
    return JSON.parse(buf.toString('utf8', i, end + 1))
  } catch {
    return undefined
  }
}

/**
 * The event without the top-level `"usage": {…}` member of its JSON data (and one comma),
 * spliced out of the bytes: nothing else is re-encoded. Undefined when there is no such
 * member, or when it spans lines (data split over several `data:` lines).
 */
export function withoutUsageMember(ev: Buffer): Buffer | undefined {
  const data = ev.indexOf(DATA)
  const open = data === -1 ? -1 : ev.indexOf(0x7b, data)
  if (open === -1) return undefined
  let depth = 0
  for (let i = open; i < ev.length; i++) {
    const c = ev[i]
    if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return undefined
    } else if (c === 0x22) {
      const start = i
      for (i++; i < ev.length && ev[i] !== 0x22; i++) if (ev[i] === 0x5c) i++
      if (depth !== 1 || i - start !== 6 || ev.compare(USAGE_KEY, 0, 7, start, i + 1) !== 0) continue
      let v = skipSpace(ev, i + 1)
      if (ev[v] !== 0x3a) continue
      v = skipSpace(ev, v + 1)
      if (ev[v] !== 0x7b) return undefined
      const close = objectEnd(ev, v)
      if (close === -1) return undefined
      // One comma goes with the member: the one before it, else (the first member) the one after.
      let from = start
      let to = close + 1
      let p = start - 1
      while (isSpace(ev[p])) p--
      if (ev[p] === 0x2c) from = p
      else {
        const n = skipSpace(ev, to)
        if (ev[n] === 0x2c) to = n + 1
      }
      for (let k = from; k < to; k++) if (ev[k] === 0x0a || ev[k] === 0x0d) return undefined
      return Buffer.concat([ev.subarray(0, from), ev.subarray(to)])
    }
  }
  return undefined
}

/**
 * The events without their `"usage": null` members (and one comma each): an upstream asked
 * for usage by the gateway marks every chunk so (OpenAI, vLLM), which a client that did not
 * ask would never see. Spliced out of the bytes, nothing re-encoded; the same buffer when
 * there is none. `"usage"` cannot occur inside a JSON string, so every match is a key.
 */
export function withoutNullUsage(buf: Buffer): Buffer {
  let i = buf.indexOf(USAGE_KEY)
  if (i === -1) return buf
  let parts: Buffer[] | undefined
  let from = 0
  while (i !== -1) {
    let v = skipSpace(buf, i + USAGE_KEY.length)
    let next = i + USAGE_KEY.length
    if (buf[v] === 0x3a) {
      v = skipSpace(buf, v + 1)
      if (buf[v] === 0x6e && buf[v + 1] === 0x75 && buf[v + 2] === 0x6c && buf[v + 3] === 0x6c) {
        let start = i
        let end = v + 4
        let p = start - 1
        while (isSpace(buf[p])) p--
        if (buf[p] === 0x2c) start = p
        else {
          const n = skipSpace(buf, end)
          if (buf[n] === 0x2c) end = n + 1
        }
        ;(parts ??= []).push(buf.subarray(from, start))
        from = end
        next = end
      }
    }
    i = buf.indexOf(USAGE_KEY, next)
  }
  if (parts === undefined) return buf
  parts.push(buf.subarray(from))
  return Buffer.concat(parts)
}

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09
}

function skipSpace(buf: Buffer, i: number): number {
  while (isSpace(buf[i])) i++
  return i
}

/** The index of the brace closing the object that opens at `open`, or -1. */
function objectEnd(buf: Buffer, open: number): number {
  let depth = 0
  for (let i = open; i < buf.length; i++) {
    const c = buf[i]
    if (c === 0x22) {
      // Skip a string, escapes included.
      for (i++; i < buf.length && buf[i] !== 0x22; i++) if (buf[i] === 0x5c) i++
    } else if (c === 0x7b) depth++
    else if (c === 0x7d && --depth === 0) return i
  }
  return -1
}
