// The wire shapes of docs/API.md that the web app reads: request body, stream frames, /api/info.

export type Role = 'system' | 'user' | 'assistant'

export type ContextOverflow = 'summarize' | 'truncate' | 'error'

export interface ContextSummary {
  covers: number
  hash: string
  text: string
}

export interface ChatCompletionRequest {
  messages: { role: Role; content: string }[]
  stream: true
  temperature: number
  top_p: number
  max_tokens: number
  context_overflow: ContextOverflow
  context_summary?: ContextSummary
  conversation_id?: string
}

export type QueueStatus =
  | { state: 'queued'; queue_position: number }
  | { state: 'summarizing'; messages: number }
  | { state: 'generating' }

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details?: { cached_tokens?: number }
}

export interface Timings {
  queued_ms?: number
  time_to_first_token_ms?: number
  prompt_tokens_processed?: number
  prompt_ms?: number
  prompt_tokens_per_second?: number
  completion_tokens?: number
  decode_ms?: number
  decode_tokens_per_second?: number
}

export interface ContextReport {
  mode: ContextOverflow
  prompt_tokens?: number
  n_ctx?: number
  summarized_messages: number
  dropped_messages: number
  summary: ContextSummary | null
}

export interface ApiErrorBody {
  message: string
  type?: string
  code?: string | null
  param?: string | null
}

export type FinishReason = 'stop' | 'length'

export interface ChatCompletionChunk {
  id?: string
  choices?: {
    index?: number
    delta?: { role?: string; content?: string | null }
    finish_reason?: FinishReason | null
  }[]
  status?: QueueStatus
  usage?: Usage
  timings?: Timings
  context?: ContextReport
  error?: ApiErrorBody
}

export interface ServerModel {
  id: string
  file: string
  preset?: string | null
  description?: string
  quantization?: string
}

export interface ServerInfo {
  name: string
  version: string
  /** Not in docs/API.md: the server answers 200 while loading, with `model: null`. */
  status?: 'ok' | 'loading' | 'error'
  error?: string | null
  model: ServerModel | null
  fallback: { requested: string; served: string; reason: string } | null
  n_ctx: number
  parallel?: number
}
