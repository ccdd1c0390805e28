// A small client for the admin API in tests.

export interface AdminAnswer {
  readonly status: number
   
  readonly body: any
}

export type AdminCall = (method: string, path: string, body?: unknown) => Promise<AdminAnswer>

export function adminClient(url: string, token: string | undefined): AdminCall {
  return async (method, path, body) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await res.text()
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
  }
}
