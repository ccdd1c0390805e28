// Serves POST /v1/embeddings: deterministic unit vectors, as floats or base64 (LE float32).
import type { Exchange } from './exchange.js'
import { badRequest, writeJson } from './reply.js'
import type { ParsedBody } from './request-body.js'
import { isTokenList, modelOf, requireObject } from './request-body.js'
import type { ServeContext } from './serve-context.js'
import { faultLatency } from './serve-context.js'
import { createRandom, estimateTokens, hashText } from './text-generator.js'

const DEFAULT_DIMENSIONS = 16

interface EmbeddingInput {
  readonly text: string
  readonly tokens: number
}

/** Answers after TTFT (the prefill an embedding costs), holding a concurrency slot meanwhile. */
export function serveEmbeddings(ex: Exchange, body: ParsedBody, ctx: ServeContext): void {
  const request = requireObject(body)
  const inputs = readInputs(request.input)
  const dimensions = readDimensions(request.dimensions)
  const format = request.encoding_format ?? 'float'
  if (format !== 'float' && format !== 'base64') {
    throw badRequest("'encoding_format' must be 'float' or 'base64'.", 'encoding_format')
  }
  const model = modelOf(request, ctx.config.model)
  ex.admit(ctx.queue, () => {
    if (ctx.fault.mode === 'drop-mid-stream') {
      ex.drop()
      return
    }
    ex.after(faultLatency(ctx.fault) + ctx.config.ttftMs, () => {
      const data = inputs.map((input, index) => {
        const vector = embed(input.text, dimensions, ctx.config.seed)
        const embedding = format === 'base64' ? toBase64(vector) : Array.from(vector)
        return { object: 'embedding', index, embedding }
      })
      const promptTokens = inputs.reduce((sum, input) => sum + input.tokens, 0)
      ctx.stats.promptTokens += promptTokens
      const usage = { prompt_tokens: promptTokens, total_tokens: promptTokens }
      writeJson(ex.res, 200, { object: 'list', data, model, usage })
    })
  })
}

/** A unit-length vector that is a pure function of seed and text. */
export function embed(text: string, dimensions: number, seed: number): Float32Array {
  const random = createRandom(hashText(text, seed))
  const vector = new Float32Array(dimensions)
  let norm = 0
  for (let i = 0; i < dimensions; i++) {
    const value = random() / 0x80000000 - 1
    vector[i] = value
    norm += value * value
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0
  for (let i = 0; i < dimensions; i++) vector[i] = vector[i]! * scale
  return vector
}

function toBase64(vector: Float32Array): string {
  const bytes = Buffer.allocUnsafe(vector.length * 4)
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4)
  return bytes.toString('base64')
}

/** Input is a string, strings, token ids, or lists of token ids (as in OpenAI's API). */
function readInputs(input: unknown): EmbeddingInput[] {
  if (typeof input === 'string') return [{ text: input, tokens: estimateTokens(input) }]
  if (Array.isArray(input) && input.length > 0) {
    if (input.every((item) => typeof item === 'string')) {
      return input.map((text: string) => ({ text, tokens: estimateTokens(text) }))
    }
    if (input.every((item) => typeof item === 'number')) {
      return [{ text: input.join(','), tokens: input.length }]
    }
    if (input.every(isTokenList)) {
      return input.map((list: number[]) => ({ text: list.join(','), tokens: list.length }))
    }
  }
  throw badRequest(
    "'input' must be a string, an array of strings, or token ids (non-empty).",
    'input'
  )
}

function readDimensions(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_DIMENSIONS
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65536) {
    throw badRequest("'dimensions' must be an integer from 1 to 65536.", 'dimensions')
  }
  return value
}
