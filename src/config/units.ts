// Human units in config: durations ("250ms", "5s", "2m", "1h", "30d") and sizes ("10MiB").

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses a duration to milliseconds; a bare number ("150" too, as the CLI passes it) is milliseconds. Returns NaN when invalid. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : NaN
  const m = DURATION.exec(value.trim())
  if (!m) return NaN
  return Math.round(Number(m[1]) * DURATION_MS[m[2] ?? 'ms']!)
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/
const SIZE_BYTES: Record<string, number> = {
  B: 1,
  KB: 1e3,
  KiB: 1024,
  MB: 1e6,
  MiB: 1024 ** 2,
  GB: 1e9,
  GiB: 1024 ** 3,
}

/** Parses a size to bytes; a bare number is bytes. Returns NaN when invalid. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : NaN
  const m = SIZE.exec(value.trim())
  if (!m) return NaN
  return Math.floor(Number(m[1]) * SIZE_BYTES[m[2] ?? 'B']!)
}

/** Formats milliseconds back for messages ("1.5s", "250ms"). */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`
}
