// The streamed /v1/chat/completions call: request in, text deltas and status events out through
// one callbacks object, the whole reply (text, finish reason, usage, timings, context, the
// sources of a reply that searched the user's documents) at the end.
import type {
  ChatCompletionRequest,
  ContextReport,
  FinishReason,
  QueueStatus,
  Source,
  StreamErrorBody,
  StreamFrame,
  Timings,
  Usage,
} from '../types/api'
import { apiFetch } from './http'
import { readSseStream } from './sse'

export type StreamEvent =
  { type: 'started'; id: string } | { type: 'status'; status: QueueStatus } | { type: 'heartbeat' }

export interface StreamCallbacks {
  onDelta: (text: string) => void
  onEvent?: (event: StreamEvent) => void
  /** An error frame after the stream started; the reply so far stays valid. */
  onError?: (error: StreamErrorBody) => void
  /** The passages found for a request with `knowledge`, before the first token ([] for none). */
  onSources?: (sources: Source[]) => void
}

export interface ChatCompletionResult {
  id: string | null
  content: string
  finishReason: FinishReason | null
  usage: Usage | null
  timings: Timings | null
  context: ContextReport | null
  /** Null when the request searched no documents. */
  sources: Source[] | null
  error: StreamErrorBody | null
  /** False when the connection closed without `[DONE]`. */
  complete: boolean
}

const COMPLETIONS_PATH = 'v1/chat/completions'

export async function streamChatCompletion(
  request: ChatCompletionRequest,
  options: { signal: AbortSignal; apiKey?: string | null },
  callbacks: StreamCallbacks,
): Promise<ChatCompletionResult> {
  const response = await apiFetch(COMPLETIONS_PATH, {
    body: request,
    signal: options.signal,
    apiKey: options.apiKey,
  })
  const result: ChatCompletionResult = {
    id: null,
    content: '',
    finishReason: null,
    usage: null,
    timings: null,
    context: null,
    sources: null,
    error: null,
    complete: false,
  }
  if (!response.body) return result

  await readSseStream(response.body, {
    onComment: () => callbacks.onEvent?.({ type: 'heartbeat' }),
    onData: (data) => {
      if (data === '[DONE]') {
        result.complete = true
        return
      }
      let frame: StreamFrame
      try {
        frame = JSON.parse(data) as StreamFrame
      } catch {
        return // A frame that is not JSON carries nothing we can use; skip it, keep streaming.
      }
      applyFrame(frame, result, callbacks)
    },
  })
  return result
}

function applyFrame(
  frame: StreamFrame,
  result: ChatCompletionResult,
  callbacks: StreamCallbacks,
): void {
  if ('error' in frame) {
    result.error = frame.error
    callbacks.onError?.(frame.error)
    return
  }
  const chunk = frame
  if (typeof chunk.id === 'string' && result.id === null) {
    result.id = chunk.id
    callbacks.onEvent?.({ type: 'started', id: chunk.id })
  }
  if (chunk.status) callbacks.onEvent?.({ type: 'status', status: chunk.status })
  if (chunk.usage) result.usage = chunk.usage
  if (chunk.timings) result.timings = chunk.timings
  if (chunk.context) result.context = chunk.context
  if (Array.isArray(chunk.sources) && result.sources === null) {
    result.sources = chunk.sources
    callbacks.onSources?.(chunk.sources)
  }
  const choice = chunk.choices?.[0]
  if (!choice) return
  const text = choice.delta?.content
  if (typeof text === 'string' && text !== '') {
    result.content += text
    callbacks.onDelta(text)
  }
  if (choice.finish_reason) result.finishReason = choice.finish_reason
}

/** Ask the server to stop a reply by id, for when a proxy hides the closed connection. */
export async function cancelChatCompletion(id: string, apiKey?: string | null): Promise<void> {
  await apiFetch(`${COMPLETIONS_PATH}/${encodeURIComponent(id)}/cancel`, {
    method: 'POST',
    apiKey,
  })
}
