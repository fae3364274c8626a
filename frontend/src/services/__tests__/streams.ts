// Test helpers: a byte stream that arrives in exactly the given pieces, and a fetch answering
// with it, so tests decide where the network splits frames.
import { vi } from 'vitest'

export function byteStream(pieces: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) {
        controller.enqueue(typeof piece === 'string' ? encoder.encode(piece) : piece)
      }
      controller.close()
    },
  })
}

export function sseResponse(pieces: (string | Uint8Array)[]): Response {
  return new Response(byteStream(pieces), {
    status: 200,
    headers: { 'Content-Type': 'text/event-stream' },
  })
}

export function stubFetch(answer: () => Response | Promise<Response>) {
  const fetchMock = vi.fn<typeof fetch>(async () => answer())
  vi.stubGlobal('fetch', fetchMock)
  return fetchMock
}

export const frame = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`

/** The usage frame that ends a reply: 9 prompt tokens, 2 generated, 42 ms to the first. */
export const usageFrame = (
  id: string,
  summary: { covers: number; hash: string; text: string } | null = null,
): string =>
  frame({
    id,
    choices: [],
    usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
    timings: { time_to_first_token_ms: 42, decode_tokens_per_second: 12.5 },
    context: {
      mode: 'summarize',
      summarized_messages: summary?.covers ?? 0,
      dropped_messages: 0,
      summary,
    },
  })

/** A standard delta frame of the completion `id`. */
export const deltaFrame = (id: string, content: string): string =>
  frame({ id, choices: [{ index: 0, delta: { content } }] })
