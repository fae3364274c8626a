// Incremental Server-Sent Events parsing: bytes from the network in, one `data` payload per
// event out. Knows nothing about chat completions or Vue.

export interface SseHandlers {
  /** One complete event's data (several `data:` lines joined with "\n"). */
  onData: (data: string) => void
  /** A comment line such as the server's `: ping` heartbeat, without the colon. */
  onComment?: (text: string) => void
}

export interface SseParser {
  /** Feed decoded text; it may end anywhere, even between "\r" and "\n". */
  push: (text: string) => void
  /** The stream ended: dispatch an event the server did not close with a blank line. */
  end: () => void
}

export function createSseParser(handlers: SseHandlers): SseParser {
  let buffer = ''
  let dataLines: string[] = []
  // A chunk that ends in "\r" may be half of a CRLF; the "\n" that starts the next chunk
  // must not count as a second (blank) line, or one event would be dispatched early.
  let skipLeadingLineFeed = false

  function dispatch(): void {
    if (dataLines.length === 0) return
    const data = dataLines.join('\n')
    dataLines = []
    handlers.onData(data)
  }

  function processLine(line: string): void {
    if (line === '') {
      dispatch()
      return
    }
    if (line.startsWith(':')) {
      handlers.onComment?.(line.slice(1).trimStart())
      return
    }
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    // `event`, `id` and `retry` carry nothing this API uses.
    if (field === 'data') dataLines.push(value)
  }

  function push(text: string): void {
    if (text === '') return
    if (skipLeadingLineFeed && text.startsWith('\n')) text = text.slice(1)
    skipLeadingLineFeed = false
    buffer += text
    let start = 0
    for (let index = 0; index < buffer.length; index++) {
      const char = buffer[index]
      if (char !== '\n' && char !== '\r') continue
      processLine(buffer.slice(start, index))
      if (char === '\r') {
        if (index + 1 === buffer.length) skipLeadingLineFeed = true
        else if (buffer[index + 1] === '\n') index++
      }
      start = index + 1
    }
    buffer = buffer.slice(start)
  }

  function end(): void {
    if (buffer !== '') processLine(buffer)
    buffer = ''
    dispatch()
  }

  return { push, end }
}

/** Read a byte stream to its end, decoding UTF-8 that may be split anywhere between chunks. */
export async function readSseStream(
  body: ReadableStream<Uint8Array>,
  handlers: SseHandlers,
): Promise<void> {
  const parser = createSseParser(handlers)
  const decoder = new TextDecoder('utf-8')
  const reader = body.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parser.push(decoder.decode(value, { stream: true }))
    }
    parser.push(decoder.decode())
    parser.end()
  } finally {
    reader.releaseLock()
  }
}
