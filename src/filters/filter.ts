// RequestFilter: one stage of request filtering. Stages run in a fixed order built from the
// `filters:` config (pipeline.ts); a new stage implements this interface and joins the list.
import type { RequestContext } from '../server/context.js'

export interface RequestFilter {
  readonly name: string
  /**
   * Before the body is parsed (the `preParsing` hook): sees `ctx.rawBody` only. For checks
   * that must not wait for JSON.parse, such as nesting depth. Throws a GatewayError to refuse.
   */
  checkRaw?(ctx: RequestContext): void
  /**
   * Once the body is parsed and routed (the `preHandler` hook): `ctx.body`, `ctx.endpoint`
   * and `ctx.model` are set. Throws a GatewayError to refuse. A stage that changes
   * `ctx.body` must set `ctx.bodyChanged`, so the provider serialises the body again.
   */
  apply?(ctx: RequestContext): void | Promise<void>
}

/** The stages of one config, split by phase; built once per snapshot. */
export class FilterPipeline {
  readonly rawStages: readonly RequestFilter[]
  readonly bodyStages: readonly RequestFilter[]

  constructor(readonly stages: readonly RequestFilter[]) {
    this.rawStages = stages.filter((s) => s.checkRaw !== undefined)
    this.bodyStages = stages.filter((s) => s.apply !== undefined)
  }

  checkRaw(ctx: RequestContext): void {
    const stages = this.rawStages
    for (let i = 0; i < stages.length; i++) stages[i]!.checkRaw!(ctx)
  }

  /** Runs the body stages in order; returns a promise only if a stage is asynchronous. */
  apply(ctx: RequestContext): void | Promise<void> {
    const stages = this.bodyStages
    for (let i = 0; i < stages.length; i++) {
      const pending = stages[i]!.apply!(ctx)
      if (pending !== undefined) return this.applyFrom(ctx, i + 1, pending)
    }
  }

  private async applyFrom(ctx: RequestContext, next: number, pending: Promise<void>): Promise<void> {
    await pending
    const stages = this.bodyStages
    for (let i = next; i < stages.length; i++) await stages[i]!.apply!(ctx)
  }
}
