// The conversation model the app stores in IndexedDB and exports.
import type { ContextOverflow, ContextSummary, FinishReason, Source } from './api'

export type MessageStatus = 'streaming' | 'done' | 'stopped' | 'error'

/** Why a reply failed; the UI turns it into a translated message and a Retry button. */
export type ReplyErrorKind = 'network' | 'busy' | 'loading' | 'stream' | 'http'

export interface ReplyError {
  kind: ReplyErrorKind
  /** The server's own words (error frame or error JSON), shown as plain text. */
  message?: string
  retryAfterSeconds?: number
}

/** Why storing a conversation failed; the messages stay on the page, and the UI says so. */
export interface SaveFailure {
  /** `quota`: the browser's storage is full, and deleting conversations frees space. */
  kind: 'quota' | 'other'
  /** The browser's own words for any other failure, shown as plain text. */
  message?: string
}

export interface ReplyStats {
  timeToFirstTokenMs?: number
  decodeTokensPerSecond?: number
  completionTokens?: number
  promptTokens?: number
  cachedTokens?: number
}

/** What the server did to fit the conversation into its context window for this reply. */
export interface ReplyContextNote {
  mode: ContextOverflow
  summarizedMessages: number
  droppedMessages: number
  summaryText?: string
}

export interface ChatMessage {
  id: string
  /**
   * The message this one follows, null for a first message. A regenerated reply or an edited
   * question is a sibling of the one it replaces: the versions shown as "< 2/3 >".
   */
  parentId: string | null
  role: 'user' | 'assistant'
  /** What is shown and sent back as the conversation: a reply's answer, never its thinking. */
  content: string
  /**
   * A reasoning model's thinking before its answer (`reasoning_content`, or a `<think>` block
   * split off the text). Shown folded, stored and exported; never sent to the server again.
   */
  reasoning?: string
  /** How long it thought: from its first reasoning token to the first token of the answer. */
  reasoningMs?: number
  createdAt: number
  status?: MessageStatus
  finishReason?: FinishReason | null
  error?: ReplyError
  stats?: ReplyStats
  context?: ReplyContextNote
  /** The passages the reply was given ([] when none matched); absent when it used no documents. */
  sources?: Source[]
}

export interface Conversation {
  id: string
  title: string
  /** True once the user renamed it; until then the title follows the first user message. */
  titleEdited: boolean
  createdAt: number
  updatedAt: number
  /** Every message of every version, each after its parent (see lib/messageTree.ts). */
  messages: ChatMessage[]
  /** The last message of the version on screen, which is also what the next request sends. */
  currentId: string | null
  /** The server's last summary of the oldest messages, sent back as `context_summary`. */
  contextSummary: ContextSummary | null
  /** The collection that holds the files attached to this chat, created on the first one. */
  attachmentStoreId?: string
  /** Shared collections switched on for this chat. */
  sharedStoreIds?: string[]
}

export interface ConversationMeta {
  id: string
  title: string
  updatedAt: number
}
