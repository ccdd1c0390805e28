// JSON values written straight into a byte buffer, for lines made once per request (the
// access log). Building the line as a string first cost more than everything else the log
// does: dozens of intermediate strings per line, then flattening and encoding them. These
// functions write bytes in place and allocate nothing on the common path (ASCII text,
// integers); anything else goes through JSON.stringify / String, so the output is always
// exactly what JSON.stringify would write.
//
// Each takes the buffer and a position and returns the position after what it wrote. The
// caller reserves room first: a string of n UTF-16 units takes at most 6n + 2 bytes
// (`\u001f` for a control character; UTF-8 never needs more than 3 bytes per unit), any
// number at most NUMBER_BYTES.

/** The most bytes putNumber/putMs writes (`-1.2345678901234567e-308` and the like). */
export const NUMBER_BYTES = 25

/** The most bytes putString writes for `s`. */
export function stringBytes(s: string | null | undefined): number {
  return s === null || s === undefined ? 4 : 6 * s.length + 2
}

/** The bytes of constant ASCII text (a line's field names), made once, for putBytes. */
export function asciiBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'))
}

/** Constant bytes (asciiBytes): one block copy, faster than putAscii's loop past a few characters. */
export function putBytes(buf: Buffer, p: number, bytes: Uint8Array): number {
  buf.set(bytes, p)
  return p + bytes.length
}

/** Text known to be ASCII and to need no escaping (short or variable: see putBytes). */
export function putAscii(buf: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i)
  return p
}

/** Marks the 128 ASCII codes that JSON must escape inside a string. */
const ESCAPE = new Uint8Array(128)
for (let c = 0; c < 0x20; c++) ESCAPE[c] = 1
ESCAPE[0x22] = 1
ESCAPE[0x5c] = 1

/** A JSON string, or `null` for null and undefined. */
export function putString(buf: Buffer, p: number, s: string | null | undefined): number {
  if (s === null || s === undefined) return putNull(buf, p)
  const start = p
  buf[p++] = 0x22
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80 || ESCAPE[c] === 1) {
      // Escapes and non-ASCII text (rare in these fields): JSON.stringify says how.
      return start + buf.write(JSON.stringify(s), start, 'utf8')
    }
    buf[p++] = c
  }
  buf[p++] = 0x22
  return p
}

export function putNull(buf: Buffer, p: number): number {
  buf[p] = 0x6e // n
  buf[p + 1] = 0x75 // u
  buf[p + 2] = 0x6c // l
  buf[p + 3] = 0x6c // l
  return p + 4
}

export function putBool(buf: Buffer, p: number, b: boolean): number {
  return putAscii(buf, p, b ? 'true' : 'false')
}

/** A number as JSON.stringify writes it; `null` for NaN, ±Infinity, null and undefined. */
export function putNumber(buf: Buffer, p: number, n: number | null | undefined): number {
  if (n === null || n === undefined || !Number.isFinite(n)) return putNull(buf, p)
  if (Number.isSafeInteger(n) && n >= 0) return putUint(buf, p, n)
  return putAscii(buf, p, String(n))
}

/** Milliseconds rounded to two decimals, as `String(Math.round(ms * 100) / 100)` writes them. */
export function putMs(buf: Buffer, p: number, ms: number): number {
  const hundredths = Math.round(ms * 100)
  // Past 1e15 the shortest decimal of hundredths / 100 may not be these digits: let String say.
  if (!(hundredths >= 0 && hundredths < 1e15)) return putNumber(buf, p, hundredths / 100)
  const frac = hundredths % 100
  p = putUint(buf, p, (hundredths - frac) / 100)
  if (frac === 0) return p
  buf[p++] = 0x2e // .
  buf[p++] = 0x30 + ((frac / 10) | 0)
  if (frac % 10 !== 0) buf[p++] = 0x30 + (frac % 10)
  return p
}

/** A non-negative safe integer, digit by digit. */
function putUint(buf: Buffer, p: number, n: number): number {
  if (n < 10) {
    buf[p] = 0x30 + n
    return p + 1
  }
  let digits = 1
  for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++
  const end = p + digits
  for (let i = end - 1; i >= p; i--) {
    buf[i] = 0x30 + (n % 10)
    n = Math.floor(n / 10)
  }
  return end
}
