// Serves POST /v1/chat/completions and /v1/completions, streaming or not.
import { randomUUID } from 'node:crypto'
import type { Exchange } from './exchange.js'
import type { GenerationKind, GenerationPlan } from './generation-plan.js'
import { planGeneration } from './generation-plan.js'
import { writeJson } from './reply.js'
import type { ParsedBody } from './request-body.js'
import { requireObject } from './request-body.js'
import type { ServeContext } from './serve-context.js'
import { faultLatency } from './serve-context.js'
import { chatFramer, completionFramer } from './sse-framer.js'
import type { Usage } from './sse-framer.js'
import { createTokenSource, generateText } from './text-generator.js'
import { TokenStream } from './token-stream.js'

export function serveGeneration(
  kind: GenerationKind,
  ex: Exchange,
  body: ParsedBody,
  ctx: ServeContext
): void {
  const plan = planGeneration(kind, requireObject(body), ctx.config)
  ex.admit(ctx.queue, () => {
    ctx.stats.promptTokens += plan.promptTokens
    if (plan.stream) startStream(ex, plan, ctx)
    else answerWhole(ex, plan, ctx)
  })
}

function startStream(ex: Exchange, plan: GenerationPlan, ctx: ServeContext): void {
  const who = {
    id: newId(plan.kind),
    created: nowSeconds(),
    model: plan.model,
    includeUsage: plan.includeUsage,
  }
  const { fault, config } = ctx
  const stream = new TokenStream(
    ex,
    {
      framer: plan.kind === 'chat' ? chatFramer(who) : completionFramer(who),
      tokens: createTokenSource(plan.textSeed),
      completionTokens: plan.completionTokens,
      promptTokens: plan.promptTokens,
      finishReason: plan.finishReason,
      includeUsage: plan.includeUsage,
      firstTokenMs: config.ttftMs + faultLatency(fault),
      intervalMs: config.intervalMs,
      dropAfterFrames: fault.mode === 'drop-mid-stream' ? fault.after_chunks : undefined,
    },
    ctx.stats
  )
  stream.start()
}

/** A non-streaming answer arrives when the last token would have: TTFT + (n - 1) intervals. */
function answerWhole(ex: Exchange, plan: GenerationPlan, ctx: ServeContext): void {
  if (ctx.fault.mode === 'drop-mid-stream') {
    ex.drop()
    return
  }
  const { ttftMs, intervalMs } = ctx.config
  const delay = faultLatency(ctx.fault) + ttftMs + (plan.completionTokens - 1) * intervalMs
  ex.after(delay, () => {
    ctx.stats.generationTokens += plan.completionTokens
    ctx.stats.finished[plan.finishReason]++
    writeJson(ex.res, 200, wholeBody(plan))
  })
}

function wholeBody(plan: GenerationPlan): object {
  const text = generateText(plan.textSeed, plan.completionTokens)
  const usage: Usage = {
    prompt_tokens: plan.promptTokens,
    completion_tokens: plan.completionTokens,
    total_tokens: plan.promptTokens + plan.completionTokens,
  }
  const id = newId(plan.kind)
  const created = nowSeconds()
  const { model, finishReason } = plan
  if (plan.kind === 'chat') {
    const message = { role: 'assistant', content: text }
    const choice = { index: 0, message, logprobs: null, finish_reason: finishReason }
    return { id, object: 'chat.completion', created, model, choices: [choice], usage }
  }
  const choice = { text, index: 0, logprobs: null, finish_reason: finishReason }
  return { id, object: 'text_completion', created, model, choices: [choice], usage }
}

function newId(kind: GenerationKind): string {
  return (kind === 'chat' ? 'chatcmpl-' : 'cmpl-') + randomUUID().replaceAll('-', '')
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}
