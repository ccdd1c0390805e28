// Config sections for what the gateway reports about itself: metrics, the usage store
// and tracing. The logging section stays in schema.ts with the rest of the server's own.
import { z } from 'zod'
import { duration, timerDuration } from './zod-units.js'

export const metricsSchema = z.strictObject({
  /** Serve Prometheus metrics at the admin port's /metrics. */
  enabled: z.boolean().default(true),
})

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// URL' })

export const usageSchema = z.strictObject({
  /** Record one usage row per request (off: no store is opened). */
  enabled: z.boolean().default(true),
  /** Embedded store (the default), relative to the working directory. */
  sqlite: z.string().min(1).default('./switchyard.db'),
  /** A PostgreSQL server instead of SQLite (fleets: every gateway writes to one place). */
  postgres: postgresUrl.optional(),
  /** Rows older than this are deleted (checked hourly: no timer is this long, so 30d is fine). */
  retention: duration().default(30 * 86_400_000),
  /** Buffered rows are written at least this often. */
  flush_interval: timerDuration().default(1_000),
  /** Rows per write; a full batch is written at once rather than waiting for the timer. */
  batch_size: z.number().int().positive().default(2_000),
  /** Rows held while the store is slow or down; past this, new rows are dropped and counted. */
  buffer: z.number().int().positive().default(50_000),
})

export const tracingSchema = z.strictObject({
  /**
   * OTLP/HTTP base URL (spans go to `<url>/v1/traces`). Empty: the standard environment
   * variables decide (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT).
   */
  otlp_endpoint: z.string().default(''),
  /** Defaults to OTEL_SERVICE_NAME, else "switchyard". */
  service_name: z.string().min(1).optional(),
  /** Extra export headers (beside OTEL_EXPORTER_OTLP_HEADERS), e.g. an API key. */
  headers: z.record(z.string(), z.string()).optional(),
  /** Share of new traces kept; a client's sampled flag is always followed. */
  sample_ratio: z.number().min(0).max(1).default(1),
})

export type MetricsConfig = z.output<typeof metricsSchema>
export type UsageConfig = z.output<typeof usageSchema>
export type TracingConfig = z.output<typeof tracingSchema>
