// PII redaction: e-mail addresses, phone numbers and payment card numbers in prompt text are
// replaced by a marker before the request leaves. Detection is heuristic: cards must pass
// the Luhn check, phones need 9–15 digits written as a phone number is (with a +, brackets
// or separators), so dates, versions, IPv4 addresses and plain long numbers are left alone.
import type { PiiKind } from '../config/filters.js'
import type { RequestFilter } from './filter.js'
import { visitPromptText } from './prompt-text.js'

/** Replaces the detected items of one kind in a text (the same string when none). */
type Detector = (text: string) => string

/**
 * E-mail addresses, found from each `@`: the local-part characters to its left and a domain
 * to its right. The whole run to the left goes, even past RFC 5321's 64 characters: a cut
 * would leave part of the address. Anchoring on `@` keeps this linear (a scan back stops at
 * the previous `@`, which is no local-part character); a regex starting with a local-part
 * class would try every position of a long run of letters.
 */
export function redactEmails(text: string): string {
  let at = text.indexOf('@')
  if (at === -1) return text
  let out = ''
  let done = 0
  while (at !== -1) {
    let start = at
    while (start > done) {
      const c = text.charCodeAt(start - 1)
      if (c >= 128 || LOCAL_CHAR[c] === 0) break
      start--
    }
    EMAIL_DOMAIN.lastIndex = at + 1
    if (start < at && EMAIL_DOMAIN.test(text)) {
      out += text.slice(done, start) + '[REDACTED_EMAIL]'
      done = EMAIL_DOMAIN.lastIndex
      at = text.indexOf('@', done)
    } else {
      at = text.indexOf('@', at + 1)
    }
  }
  return done === 0 ? text : out + text.slice(done)
}

// Every quantifier is bounded (RFC 5321 lengths for e-mail, E.164's 15 digits for phones):
// prompt text is the client's, and an unbounded `+` before a literal is quadratic on a long
// run that never reaches it.
/** An e-mail domain, matched from just after an `@` (emails are found from their `@`). */
const EMAIL_DOMAIN = /[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/y
/** Characters of an e-mail local part (RFC 5321 allows more; these are the ones people use). */
const LOCAL_CHAR = new Uint8Array(128)
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-') LOCAL_CHAR[c.charCodeAt(0)] = 1
/**
 * A run of digit groups joined by a dash, a dot or one or two spaces: where card numbers
 * are looked for (cardRun picks them out). Not started inside a number or its grouping;
 * at most 19 groups, a card's most digits. Not glued to a word either (`0x4111…`,
 * `deadbeef4111…`, `var_4111…`, `4111…abc`): hex digests and identifiers stay whole.
 */
const CARD_RUN = /(?<!\w)(?<!\d[.-])\d+(?:(?:[.-]| {1,2})\d+){0,18}(?!\w)/g
/** Splits a run into groups and, between them, their separators. */
const CARD_SPLIT = /([.-]| {1,2})/
/**
 * `+` and a country code followed by digits, brackets and separators; or a national number:
 * an optional NANP `1-` (only before a 3-3-4 number), an optional (area) and two to five
 * digit groups joined by spaces, dots or dashes, the first of 2–4 digits (5 after a trunk
 * 0: `07700 900123`). Either may end in an extension (`x23`, `ext. 23`). Not next to a word
 * character, `-`, `.digit` or `:digit` (a time).
 */
const EXTENSION = String.raw`(?: ?(?:[xX]|ext\.?) ?\d{1,6})?`
const PHONE_END = String.raw`(?![\w-]|[.:]\d)`
const PHONE = new RegExp(
  String.raw`(?<![\w+])\+\d[\d ().-]{6,22}\d${EXTENSION}${PHONE_END}|` +
    String.raw`(?<![\w+.:-])(?:1[ .-](?=\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}))?(?:\(\d{1,4}\)[ .-]?)?(?:0\d{4}|\d{2,4})(?:[ .-]\d{2,8}){1,4}${EXTENSION}${PHONE_END}`,
  'g'
)
/** What the digit count leaves out: the extension. */
const TRAILING_EXTENSION = /\s?(?:[xX]|ext\.?)\s?\d+$/
/** A date written year first (2026-12-03 10…): what is left is a time, not a phone. */
const LEADING_DATE = /^\d{4}[.-]\d{1,2}[.-]\d{1,2}(?!\d)/
const DOTTED_QUAD = /^\d{1,3}(?:\.\d{1,3}){3}$/

function digitsOf(s: string): string {
  return s.replace(/\D/g, '')
}

/** The Luhn checksum every payment card number satisfies. */
export function luhnValid(digits: string): boolean {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

/**
 * A card is whole groups of a run: 13–19 digits passing Luhn, the longest from each group
 * on. Dots group a card only as four or more groups of 3–6 digits, so decimals and version
 * numbers stay. A run is a few dozen characters, so trying each window is cheap.
 */
function cardRun(run: string): string {
  const parts = run.split(CARD_SPLIT)
  let out = ''
  for (let s = 0; s < parts.length; s += 2) {
    let digits = ''
    let dots = 0
    let best = -1
    for (let e = s; e < parts.length; e += 2) {
      digits += parts[e]
      if (digits.length > 19) break
      if (e > s && parts[e - 1] === '.') dots++
      const groups = (e - s) / 2 + 1
      if (digits.length >= 13 && dotsOk(parts, s, e, dots, groups) && luhnValid(digits)) best = e
    }
    if (best >= 0) {
      out += '[REDACTED_CARD]' + (parts[best + 1] ?? '')
      s = best
    } else {
      out += parts[s]! + (parts[s + 1] ?? '')
    }
  }
  return out
}

function dotsOk(parts: readonly string[], s: number, e: number, dots: number, groups: number): boolean {
  if (dots === 0) return true
  if (dots !== groups - 1 || groups < 4) return false
  for (let i = s; i <= e; i += 2) {
    const n = parts[i]!.length
    if (n < 3 || n > 6) return false
  }
  return true
}

function phoneMatch(m: string): string {
  const n = digitsOf(m.replace(TRAILING_EXTENSION, '')).length
  return n >= 9 && n <= 15 && !DOTTED_QUAD.test(m) && !LEADING_DATE.test(m) ? '[REDACTED_PHONE]' : m
}

const DETECTORS: Readonly<Record<PiiKind, Detector>> = {
  email: redactEmails,
  card: (text) => text.replace(CARD_RUN, cardRun),
  phone: (text) => text.replace(PHONE, phoneMatch),
}

/** Emails first (they hold digits), then cards (longer digit runs than phones), then phones. */
const ORDER: readonly PiiKind[] = ['email', 'card', 'phone']

/** Replaces every PII match of the given kinds in `text`. */
export function redactText(text: string, kinds: readonly PiiKind[]): string {
  let out = text
  for (const kind of ORDER) {
    if (kinds.includes(kind)) out = DETECTORS[kind](out)
  }
  return out
}

export function redactPiiFilter(kinds: readonly PiiKind[]): RequestFilter {
  const active = ORDER.filter((k) => kinds.includes(k))
  function redact(text: string): string {
    return redactText(text, active)
  }
  return {
    name: 'redact_pii',
    apply(ctx) {
      if (visitPromptText(ctx.endpoint!, ctx.body!, redact)) ctx.bodyChanged = true
    },
  }
}
