// Reads a text/event-stream response event by event (named events with JSON data).

export interface SseEvent {
  readonly event: string
  readonly data: string
}

export class SseReader {
  private buffer = ''
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>
  private readonly decoder = new TextDecoder()

  constructor(res: Response) {
    this.reader = res.body!.getReader()
  }

  /** The next event, or undefined when the stream ends (rejects after timeoutMs). */
  async next(timeoutMs = 5_000): Promise<SseEvent | undefined> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const end = this.buffer.indexOf('\n\n')
      if (end >= 0) {
        const block = this.buffer.slice(0, end)
        this.buffer = this.buffer.slice(end + 2)
        let event = 'message'
        const data: string[] = []
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7)
          else if (line.startsWith('data: ')) data.push(line.slice(6))
        }
        if (data.length === 0) continue // retry: or a comment
        return { event, data: data.join('\n') }
      }
      const left = until - Date.now()
      if (left <= 0) throw new Error('no SSE event in time')
      let timer: NodeJS.Timeout | undefined
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no SSE event in time')), left)
        }),
      ]).finally(() => clearTimeout(timer))
      if (chunk.done) return undefined
      this.buffer += this.decoder.decode(chunk.value, { stream: true })
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined)
  }
}
