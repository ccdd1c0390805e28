// Prometheus text for GET /metrics, using the names vLLM exports so load-aware routing can read it.
import type { SimStats } from './stats.js'

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export function renderMetrics(model: string, stats: SimStats, waiting: number): string {
  const label = `model_name="${escapeLabel(model)}"`
  const running = stats.open - waiting
  return [
    '# HELP vllm:num_requests_running Number of requests currently running.',
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running{${label}} ${running}`,
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting{${label}} ${waiting}`,
    '# HELP vllm:prompt_tokens_total Number of prefill tokens processed.',
    '# TYPE vllm:prompt_tokens_total counter',
    `vllm:prompt_tokens_total{${label}} ${stats.promptTokens}`,
    '# HELP vllm:generation_tokens_total Number of generation tokens processed.',
    '# TYPE vllm:generation_tokens_total counter',
    `vllm:generation_tokens_total{${label}} ${stats.generationTokens}`,
    '# HELP vllm:request_success_total Count of successfully processed requests.',
    '# TYPE vllm:request_success_total counter',
    `vllm:request_success_total{${label},finished_reason="stop"} ${stats.finished.stop}`,
    `vllm:request_success_total{${label},finished_reason="length"} ${stats.finished.length}`,
    '# HELP sim_requests_received_total /v1/* requests received by the simulator.',
    '# TYPE sim_requests_received_total counter',
    `sim_requests_received_total{${label}} ${stats.received}`,
    '# HELP sim_requests_cancelled_total /v1/* requests whose client left before the end.',
    '# TYPE sim_requests_cancelled_total counter',
    `sim_requests_cancelled_total{${label}} ${stats.cancelled}`,
    '# HELP sim_requests_dropped_total /v1/* requests cut by the drop-mid-stream fault.',
    '# TYPE sim_requests_dropped_total counter',
    `sim_requests_dropped_total{${label}} ${stats.dropped}`,
    '',
  ].join('\n')
}

// Label values escape backslash, double quote and newline (Prometheus text format 0.0.4).
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}
