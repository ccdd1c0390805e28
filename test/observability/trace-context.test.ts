// W3C traceparent parsing and the OTLP exporter's reading of the standard environment.
import { describe, expect, it } from 'vitest'
import { resolveExporterOptions } from '../../src/observability/otlp-exporter.js'
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, sampledByRatio } from '../../src/observability/trace-context.js'

describe('traceparent', () => {
  const id = '4bf92f3577b34da6a3ce929d0e0e4736'
  it('parses valid headers and rejects invalid ones', () => {
    expect(parseTraceparent(`00-${id}-00f067aa0ba902b7-01`)).toEqual({ traceId: id, spanId: '00f067aa0ba902b7', sampled: true })
    expect(parseTraceparent(`00-${id}-00f067aa0ba902b7-00`)?.sampled).toBe(false)
    // A future version may append fields.
    expect(parseTraceparent(`01-${id}-00f067aa0ba902b7-01-extra`)?.traceId).toBe(id)
    for (const bad of [undefined, '', `00-${id}-00f067aa0ba902b7-01-extra`, `ff-${id}-00f067aa0ba902b7-01`, `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `00-${id}-${'0'.repeat(16)}-01`, `00-${id.toUpperCase()}-00f067aa0ba902b7-01`]) {
      expect(parseTraceparent(bad)).toBeUndefined()
    }
  })

  it('makes fresh ids of the right shape', () => {
    const t = newTraceId()
    const s = newSpanId()
    expect(t).toMatch(/^[0-9a-f]{32}$/)
    expect(s).toMatch(/^[0-9a-f]{16}$/)
    expect(newTraceId()).not.toBe(t)
    expect(formatTraceparent(t, s, true)).toBe(`00-${t}-${s}-01`)
  })

  it('samples by ratio deterministically from the trace id', () => {
    let kept = 0
    for (let i = 0; i < 2000; i++) if (sampledByRatio(newTraceId(), 0.25)) kept++
    expect(kept).toBeGreaterThan(350)
    expect(kept).toBeLessThan(650)
    expect(sampledByRatio(id, 1)).toBe(true)
    expect(sampledByRatio(id, 0)).toBe(false)
  })
})

describe('exporter settings from the standard environment', () => {
  it('is off without an endpoint, or when disabled', () => {
    expect(resolveExporterOptions(undefined, {})).toBeUndefined()
    expect(resolveExporterOptions(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeUndefined()
    expect(resolveExporterOptions({ otlp_endpoint: '', sample_ratio: 1 }, {})).toBeUndefined()
  })

  it('reads endpoints, headers, service name and batch settings', () => {
    const o = resolveExporterOptions(undefined, {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=x%3Dy',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'a=2',
      OTEL_SERVICE_NAME: 'gw',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
      OTEL_BSP_SCHEDULE_DELAY: '250',
    })!
    expect(o.url).toBe('http://c:4318/v1/traces')
    expect(o.headers).toEqual({ a: '2', b: 'x=y' })
    expect(o.resource).toEqual({ 'deployment.environment': 'prod', 'service.name': 'gw' })
    expect(o.scheduleDelayMs).toBe(250)
    expect(o.maxBatchSize).toBe(512)
    // The signal-specific endpoint is used as given.
    expect(resolveExporterOptions(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1/custom' })!.url).toBe('http://t:1/custom')
    // The config wins over the environment.
    expect(resolveExporterOptions({ otlp_endpoint: 'http://cfg:4318', service_name: 'cfg', sample_ratio: 1 }, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1/x' })).toMatchObject({ url: 'http://cfg:4318/v1/traces', resource: { 'service.name': 'cfg' } })
  })
})
