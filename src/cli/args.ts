// Option parsers shared by the commands (commander calls them with the raw string).
import { InvalidArgumentError } from 'commander'
import { parseDuration } from '../config/units.js'

export function durationArg(value: string): number {
  const ms = parseDuration(value)
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected a duration like 150ms or 2s')
  return ms
}

export function intArg(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number')
  return n
}

export function numberArg(value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number')
  return n
}
