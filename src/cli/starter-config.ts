// The commented starter file `switchyard init` writes.
export const STARTER_CONFIG = `# switchyard.yaml — a starter config. Validate with: npx switchyard validate
# Durations: 250ms, 5s, 2m. Sizes: 512KB, 10MiB. \${ENV_VAR} pulls secrets from the environment
# (\${ENV_VAR:-default} gives a default); a variable that is not set is an error.

server:
  host: 127.0.0.1        # 0.0.0.0 to listen on every interface
  port: 8080
  max_body: 10MiB        # larger request bodies get 413
  drain_timeout: 30s     # on SIGTERM, in-flight streams may run this long

admin:                   # the admin API: pools, drain, config reload (README "Admin API")
  host: 127.0.0.1
  port: 8081
  # token: \${SWITCHYARD_ADMIN_TOKEN}   # enables the admin API and the live dashboard at http://127.0.0.1:8081/

logging:
  level: info
  access_log: stdout     # stdout, off, or a file path

metrics:
  enabled: true          # Prometheus at the admin port's /metrics

usage:                   # one row per request; report with: npx switchyard usage
  sqlite: ./switchyard.db
  # postgres: postgres://switchyard@127.0.0.1/switchyard   # fleets: one database for every gateway
  retention: 30d

# tracing:               # OTLP/HTTP; or set OTEL_EXPORTER_OTLP_ENDPOINT and leave this out
#   otlp_endpoint: http://127.0.0.1:4318

# prices:                # USD per 1M tokens: usage rows carry the cost
#   chat-small: { input: 0.15, output: 0.60 }

models:
  - name: chat-small                 # what clients send as "model"
    strategy: least-outstanding      # round-robin | weighted | least-outstanding | p2c-ewma | affinity
    upstreams:
      - url: http://127.0.0.1:9001/v1    # base URL of an OpenAI-compatible API
        # model: qwen2.5-0.5b-instruct   # the name this upstream expects, if not chat-small
        # api_key: \${UPSTREAM_KEY}       # sent upstream as a Bearer token, never to clients
        # weight: 2                       # for the weighted strategy
      - url: http://127.0.0.1:9002/v1
      - url: http://127.0.0.1:9003/v1
      # - url: http://vllm.internal:8000/v1   # every A/AAAA address of the host is an endpoint,
      #   discovery: dns                      # re-resolved every discovery_interval (10s)
    timeouts:
      connect: 5s          # TCP connect
      first_token: 120s    # until the first response byte (non-streaming: the whole answer)
      idle: 60s            # longest silence between two stream chunks
      total: 600s
    retries:
      attempts: 2          # further tries on other upstreams, only before the first byte
      budget_percent: 20   # retries stay under this share of requests
    # fallback: [chat-large]   # models tried in order when this pool cannot serve

# Try it with simulated model servers:
#   npx switchyard sim --port 9001 & npx switchyard sim --port 9002 & npx switchyard sim --port 9003 &
#   npx switchyard start
`
