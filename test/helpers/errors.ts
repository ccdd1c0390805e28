// What a validation step refused with: the InvalidRequestError's param, code and message.
import { InvalidRequestError } from '../../src/errors.js'

export function errorOf(fn: () => unknown): { param: string | null; code: string; message: string } {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof InvalidRequestError)) throw err
    return { param: err.param, code: err.code, message: err.message }
  }
  throw new Error('expected an InvalidRequestError')
}
