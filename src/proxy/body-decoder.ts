// Decodes an upstream answer compressed despite our `accept-encoding: identity`, so the
// response taps read (and the client receives) the plain bytes. Made only for such an
// answer: an uncompressed one never meets this file.
import type { Transform } from 'node:stream'
import { brotliDecompressSync, createBrotliDecompress, createGunzip, createInflate, createInflateRaw, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib'

/** The content-codings node:zlib decodes. */
export type Coding = 'gzip' | 'deflate' | 'br'

/**
 * The coding a Content-Encoding header names: undefined for none (identity), null for one we
 * cannot decode (unknown, or several stacked), whose bytes must pass through untouched.
 */
export function codingOf(header: string | string[]): Coding | null | undefined {
  if (typeof header !== 'string') return header.length === 0 ? undefined : header.length === 1 ? codingOf(header[0]!) : null
  const name = header.trim().toLowerCase()
  if (name === '' || name === 'identity') return undefined
  if (name === 'gzip' || name === 'x-gzip') return 'gzip'
  if (name === 'deflate' || name === 'br') return name
  return null
}

/** Where the decoded bytes go: the exchange, which holds the tap and the client. */
export interface DecoderSink {
  onDecoded(chunk: Buffer): void
  onDecodedEnd(): void
  onDecodeError(err: Error): void
  /** The decoder took in what it held: the upstream may be read again. */
  onDecoderDrain(): void
}

/**
 * One zlib decompressor between the upstream and the tap. Backpressure: `pause()` stops its
 * output (zlib then stops inflating once its output buffer is full, so a small body that
 * inflates hugely is not decoded ahead of the client), and `write()` returns false once its
 * input is full, which pauses the upstream read until `onDecoderDrain`.
 */
export class BodyDecoder {
  /** Its input is over the high-water mark: the upstream stays paused until it drains. */
  full = false
  private stream: Transform | undefined = undefined

  constructor(
    private readonly coding: Coding,
    private readonly sink: DecoderSink
  ) {}

  write(chunk: Buffer): boolean {
    if ((this.stream ?? this.open(chunk)).write(chunk)) return true
    this.full = true
    return false
  }

  end(): void {
    // An empty body has nothing to decode (zlib would call it truncated).
    if (this.stream === undefined) this.sink.onDecodedEnd()
    else this.stream.end()
  }

  pause(): void {
    this.stream?.pause()
  }

  /** Lets output flow again; false while the input is still full (wait for the drain). */
  resume(): boolean {
    this.stream?.resume()
    return !this.full
  }

  destroy(): void {
    this.stream?.destroy()
  }

  private open(first: Buffer): Transform {
    const sink = this.sink
    // HTTP's "deflate" is zlib-wrapped, but some servers send raw deflate: the zlib header's
    // first byte names its method (8) in the low nibble, as browsers and undici check.
    const s =
      this.coding === 'gzip'
        ? createGunzip()
        : this.coding === 'br'
          ? createBrotliDecompress()
          : (first[0]! & 0x0f) === 0x08
            ? createInflate()
            : createInflateRaw()
    s.on('data', (chunk: Buffer) => sink.onDecoded(chunk))
    s.on('end', () => sink.onDecodedEnd())
    s.on('error', (err: Error) => sink.onDecodeError(err))
    s.on('drain', () => {
      this.full = false
      sink.onDecoderDrain()
    })
    this.stream = s
    return s
  }
}

/**
 * A small body (an error answer held whole, at most 64 KiB) decoded at once, its output
 * bounded by `maxBytes`; undefined when it does not decode within that. Held error answers
 * are relayed decoded, so the credentials masked out of them are found.
 */
export function decodeWhole(coding: Coding, body: Buffer, maxBytes: number): Buffer | undefined {
  if (body.length === 0) return body
  const options = { maxOutputLength: maxBytes }
  try {
    if (coding === 'gzip') return gunzipSync(body, options)
    if (coding === 'br') return brotliDecompressSync(body, options)
    return (body[0]! & 0x0f) === 0x08 ? inflateSync(body, options) : inflateRawSync(body, options)
  } catch {
    return undefined
  }
}
