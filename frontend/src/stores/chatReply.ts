// Pure helpers of the chat store: the request for a conversation, and what a finished or failed
// reply says (stats, context note, error), in the app's own terms.
import { activePath } from '../lib/messageTree'
import { ApiError } from '../services/http'
import type { ChatCompletionResult } from '../services/chatCompletions'
import type { ChatCompletionRequest, ContextReport } from '../types/api'
import type { Conversation, ReplyContextNote, ReplyError, ReplyStats } from '../types/chat'
import type { GenerationSettings } from './settings'

export function buildRequest(
  conversation: Conversation,
  settings: GenerationSettings,
  systemPrompt: string,
): ChatCompletionRequest {
  // Only the version on screen is sent. Failed replies are not part of the dialogue; stopped
  // ones are (the user saw them). A reply's thinking never is: reasoning models are trained on
  // dialogues without it, and it would fill the context window with text nobody answers to.
  const history = activePath(conversation)
    .filter((message) => message.status !== 'error' && message.content !== '')
    .map(({ role, content }) => ({ role, content }))
  const messages = systemPrompt.trim()
    ? [{ role: 'system' as const, content: systemPrompt }, ...history]
    : history
  return {
    messages,
    stream: true,
    temperature: settings.temperature,
    top_p: settings.topP,
    max_tokens: settings.maxTokens,
    context_overflow: settings.contextOverflow,
    conversation_id: conversation.id,
    ...(conversation.contextSummary ? { context_summary: conversation.contextSummary } : {}),
  }
}

export function replyStats(result: ChatCompletionResult): ReplyStats | undefined {
  const { timings, usage } = result
  if (!timings && !usage) return undefined
  return {
    timeToFirstTokenMs: timings?.time_to_first_token_ms,
    decodeTokensPerSecond: timings?.decode_tokens_per_second,
    completionTokens: usage?.completion_tokens ?? timings?.completion_tokens,
    promptTokens: usage?.prompt_tokens,
    cachedTokens: usage?.prompt_tokens_details?.cached_tokens,
  }
}

export function replyContextNote(context: ContextReport | null): ReplyContextNote | undefined {
  if (!context) return undefined
  const summarized = context.summarized_messages ?? 0
  const dropped = context.dropped_messages ?? 0
  if (summarized <= 0 && dropped <= 0) return undefined
  return {
    mode: context.mode,
    summarizedMessages: summarized,
    droppedMessages: dropped,
    ...(context.summary?.text ? { summaryText: context.summary.text } : {}),
  }
}

export function describeFailure(error: unknown): ReplyError {
  if (!(error instanceof ApiError)) {
    // fetch() resolved but reading the body failed: the connection broke mid-reply.
    return { kind: 'network', message: error instanceof Error ? error.message : String(error) }
  }
  switch (error.failure) {
    case 'network':
      return { kind: 'network' }
    case 'busy':
    case 'loading':
      return {
        kind: error.failure,
        ...(error.retryAfterSeconds !== undefined
          ? { retryAfterSeconds: error.retryAfterSeconds }
          : {}),
      }
    default:
      return { kind: 'http', message: error.message }
  }
}
