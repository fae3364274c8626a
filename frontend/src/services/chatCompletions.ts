// The streamed /v1/chat/completions call: request in, text deltas and status events out through
// one callbacks object, the whole reply (text, reasoning, finish reason, usage, timings, context,
// the sources of a reply that searched the user's documents) at the end. A reasoning model's
// thinking comes as `delta.reasoning_content`; from a server that leaves a `<think>` block in
// `content` instead, it is split off here (thinkSplitter.ts), so callers see one shape.
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
import { createThinkSplitter, type ThinkParts, type ThinkSplitter } from './thinkSplitter'

export type StreamEvent =
  { type: 'started'; id: string } | { type: 'status'; status: QueueStatus } | { type: 'heartbeat' }

export interface StreamCallbacks {
  /** A piece of the answer. */
  onDelta: (text: string) => void
  /** A piece of a reasoning model's thinking, which comes before the answer. */
  onReasoning?: (text: string) => void
  onEvent?: (event: StreamEvent) => void
  /** An error frame after the stream started; the reply so far stays valid. */
  onError?: (error: StreamErrorBody) => void
  /** The passages found for a request with `knowledge`, before the first token ([] for none). */
  onSources?: (sources: Source[]) => void
}

export interface ChatCompletionResult {
  id: string | null
  content: string
  /** The thinking of a reasoning model, '' for none. */
  reasoning: string
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
    reasoning: '',
    finishReason: null,
    usage: null,
    timings: null,
    context: null,
    sources: null,
    error: null,
    complete: false,
  }
  if (!response.body) return result

  const reader: ReplyReader = { result, callbacks, splitter: createThinkSplitter() }
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
      applyFrame(frame, reader)
    },
  })
  if (reader.splitter) emitParts(reader, reader.splitter.end())
  return result
}

interface ReplyReader {
  result: ChatCompletionResult
  callbacks: StreamCallbacks
  /** Null once the server sent `reasoning_content`: it splits the reply itself. */
  splitter: ThinkSplitter | null
}

function applyFrame(frame: StreamFrame, reader: ReplyReader): void {
  const { result, callbacks } = reader
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
  const reasoning = choice.delta?.reasoning_content
  if (typeof reasoning === 'string' && reasoning !== '') {
    if (reader.splitter) emitParts(reader, reader.splitter.end())
    reader.splitter = null
    emitParts(reader, { reasoning, content: '' })
  }
  const text = choice.delta?.content
  if (typeof text === 'string' && text !== '') {
    emitParts(
      reader,
      reader.splitter ? reader.splitter.push(text) : { reasoning: '', content: text },
    )
  }
  if (choice.finish_reason) result.finishReason = choice.finish_reason
}

function emitParts({ result, callbacks }: ReplyReader, parts: ThinkParts): void {
  if (parts.reasoning !== '') {
    result.reasoning += parts.reasoning
    callbacks.onReasoning?.(parts.reasoning)
  }
  if (parts.content !== '') {
    result.content += parts.content
    callbacks.onDelta(parts.content)
  }
}

/** Ask the server to stop a reply by id, for when a proxy hides the closed connection. */
export async function cancelChatCompletion(id: string, apiKey?: string | null): Promise<void> {
  await apiFetch(`${COMPLETIONS_PATH}/${encodeURIComponent(id)}/cancel`, {
    method: 'POST',
    apiKey,
  })
}
