// How the simulator answers with JSON, and its one error type (rendered in OpenAI's error shape).
import type { ServerResponse } from 'node:http'

/** A failure the simulator reports to its client as `{"error":{message,type,code,param}}`. */
export class SimHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = 'invalid_request_error',
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {}
  ) {
    super(message)
    this.name = 'SimHttpError'
  }
}

/** A 400 about one request field. */
export function badRequest(message: string, param: string | null = null): SimHttpError {
  return new SimHttpError(400, message, 'invalid_request_error', null, param)
}

export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {}
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

export function writeError(res: ServerResponse, err: SimHttpError): void {
  const { message, type, code, param } = err
  writeJson(res, err.status, { error: { message, type, code, param } }, err.headers)
}
