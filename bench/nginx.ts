// Reference point: nginx proxying to the same simulator, pinned to the same core, when an
// nginx binary is installed (it is not needed otherwise; the bench says so and skips it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { benchDir, freePort } from './lib.js'
import { join } from 'node:path'

export function hasNginx(): boolean {
  return spawnSync('nginx', ['-v']).status === 0
}

/** Starts one nginx process (no master) on a free port proxying to `upstreamUrl`. */
export async function startNginx(upstreamUrl: string, core: number): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort()
  const dir = benchDir('switchyard-nginx-')
  const up = new URL(upstreamUrl)
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log /dev/null; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream sim { server ${up.host}; keepalive 256; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`
  )
  const child = spawn('taskset', ['-c', String(core), 'nginx', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' })
  await new Promise((r) => setTimeout(r, 500))
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGQUIT')
      }),
  }
}
