// Generating replies: send, stop, regenerate, edit-and-resend (the last two add a version and
// keep the earlier ones). Deltas (answer and thinking) reach the message at most once per
// animation frame (lib/replyWriter.ts); the
// conversation is stored when a reply starts, about once a second while it streams (a reload
// keeps what had arrived) and when it ends, however it ends. A save never throws: the
// conversations store reports a failed one, so the reply goes on regardless.
// A conversation with documents first waits for the ones still indexing, then sends `knowledge`.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { createId } from '../lib/ids'
import { activePath } from '../lib/messageTree'
import { createReplyWriter } from '../lib/replyWriter'
import { createThrottledTask } from '../lib/throttledTask'
import { cancelChatCompletion, streamChatCompletion } from '../services/chatCompletions'
import { isAbortError } from '../services/http'
import type { QueueStatus } from '../types/api'
import type { ChatMessage, Conversation } from '../types/chat'
import { useAttachmentsStore } from './attachments'
import { buildRequest, describeFailure, replyContextNote, replyStats } from './chatReply'
import { useCollectionsStore } from './collections'
import { forgetStaleSummary, useConversationsStore } from './conversations'
import { useServerStore } from './server'
import { useSettingsStore } from './settings'

const SAVE_WHILE_STREAMING_MS = 1000

interface RunningReply {
  messageId: string
  controller: AbortController
  completionId: string | null
}

/** What a reply with documents does before its first token, with how many files. */
export interface KnowledgeNote {
  kind: 'indexing' | 'searching'
  documents: number
}

export const useChatStore = defineStore('chat', () => {
  const conversations = useConversationsStore()
  const server = useServerStore()
  const settings = useSettingsStore()
  const attachments = useAttachmentsStore()
  const collections = useCollectionsStore()
  const running = shallowRef<RunningReply | null>(null)
  /** The last status frame (queued, summarizing, generating, prefill) of the running reply. */
  const runningStatus = ref<QueueStatus | null>(null)
  const runningKnowledge = ref<KnowledgeNote | null>(null)
  /** When the running reply started thinking (ms since the epoch), null if it has not. */
  const runningThinkingSince = ref<number | null>(null)

  const isGenerating = computed(() => running.value !== null)

  function liveStatus(messageId: string): QueueStatus | null | undefined {
    return running.value?.messageId === messageId ? runningStatus.value : undefined
  }

  function liveKnowledge(messageId: string): KnowledgeNote | null {
    return running.value?.messageId === messageId ? runningKnowledge.value : null
  }

  function liveThinkingSince(messageId: string): number | null {
    return running.value?.messageId === messageId ? runningThinkingSince.value : null
  }

  /** The collections a reply searches, once the conversation's files have finished indexing. */
  async function knowledgeFor(conversation: Conversation, signal: AbortSignal): Promise<string[]> {
    const indexing = attachments.pending(conversation.id).length
    if (indexing > 0) {
      runningKnowledge.value = { kind: 'indexing', documents: indexing }
      await Promise.race([attachments.waitUntilIndexed(conversation.id), aborted(signal)])
    }
    const ready = attachments.ready(conversation.id).length
    const shared = conversation.sharedStoreIds ?? []
    const ids = [
      ...(ready > 0 && conversation.attachmentStoreId ? [conversation.attachmentStoreId] : []),
      ...shared,
    ]
    const documents = collections
      .enabledFor(conversation)
      .reduce((sum, store) => sum + store.file_counts.completed, ready)
    runningKnowledge.value = ids.length > 0 ? { kind: 'searching', documents } : null
    return ids
  }

  async function send(text: string): Promise<void> {
    const conversation = conversations.active
    if (!conversation || isGenerating.value || !text.trim()) return
    append(conversation, newMessage('user', text, conversation.currentId))
    await generate(conversation)
  }

  /** A new version of the last reply; the earlier ones stay, one click away. */
  async function regenerate(): Promise<void> {
    const conversation = conversations.active
    if (!conversation || isGenerating.value) return
    const path = activePath(conversation)
    const lastUser = path.findLastIndex((message) => message.role === 'user')
    const question = path[lastUser]
    if (!question) return
    // A reply without a word or a thought (failed, or stopped at once) is no version worth
    // keeping: Retry replaces it.
    const reply = path[lastUser + 1]
    if (reply && reply.content === '' && !reply.reasoning) {
      conversation.messages.splice(conversation.messages.indexOf(reply), 1)
    }
    conversation.currentId = question.id
    forgetStaleSummary(conversation, lastUser + 1)
    await generate(conversation)
  }

  /** The edited text as a new version of the question, answered anew; the old branch stays. */
  async function editAndResend(messageId: string, text: string): Promise<void> {
    const conversation = conversations.active
    if (!conversation || isGenerating.value || !text.trim()) return
    const path = activePath(conversation)
    const index = path.findIndex((message) => message.id === messageId)
    const message = path[index]
    if (!message || message.role !== 'user') return
    append(conversation, newMessage('user', text, message.parentId))
    forgetStaleSummary(conversation, index)
    await generate(conversation)
  }

  function stop(): void {
    const reply = running.value
    if (!reply) return
    reply.controller.abort()
    // Closing the connection stops the server, unless a proxy keeps it open: say it explicitly.
    if (reply.completionId) {
      cancelChatCompletion(reply.completionId, server.apiKey).catch(() => undefined)
    }
  }

  /** Add a message after the current one and make it current; returns its reactive proxy. */
  function append(conversation: Conversation, message: ChatMessage): ChatMessage {
    conversation.messages.push(message)
    conversation.currentId = message.id
    return conversation.messages[conversation.messages.length - 1] as ChatMessage
  }

  async function generate(conversation: Conversation): Promise<void> {
    const request = buildRequest(conversation, settings.generation, settings.effectiveSystemPrompt)
    // The reactive proxy of the reply: writes through it update the view.
    const message = append(
      conversation,
      newMessage('assistant', '', conversation.currentId, 'streaming'),
    )
    const saver = createThrottledTask(() => conversations.save(conversation), {
      intervalMs: SAVE_WHILE_STREAMING_MS,
    })
    await saver.run()
    const reply: RunningReply = {
      messageId: message.id,
      controller: new AbortController(),
      completionId: null,
    }
    running.value = reply
    runningStatus.value = null
    runningKnowledge.value = null
    runningThinkingSince.value = null
    const writer = createReplyWriter({
      message,
      onWrite: () => saver.poke(),
      onThinking: (since) => (runningThinkingSince.value = since),
    })

    try {
      const storeIds = await knowledgeFor(conversation, reply.controller.signal)
      if (storeIds.length > 0) request.knowledge = { vector_store_ids: storeIds }
      const result = await server.authorized((apiKey) =>
        streamChatCompletion(
          request,
          { signal: reply.controller.signal, apiKey },
          {
            onDelta: writer.content,
            onReasoning: writer.reasoning,
            onEvent: (event) => {
              if (event.type === 'started') reply.completionId = event.id
              if (event.type === 'status') runningStatus.value = event.status
            },
            onSources: (sources) => {
              message.sources = sources
              runningKnowledge.value = null
            },
          },
        ),
      )
      writer.end()
      message.content = result.content
      if (result.reasoning) message.reasoning = result.reasoning
      message.finishReason = result.finishReason
      message.stats = replyStats(result)
      message.context = replyContextNote(result.context)
      if (result.sources) message.sources = result.sources
      if (result.context?.summary) conversation.contextSummary = result.context.summary
      if (result.error || !result.complete) {
        message.status = 'error'
        message.error = result.error
          ? { kind: 'stream', message: result.error.message }
          : { kind: 'network' }
      } else {
        message.status = 'done'
      }
    } catch (error) {
      writer.end()
      if (isAbortError(error)) {
        message.status = 'stopped'
      } else {
        message.status = 'error'
        message.error = describeFailure(error)
      }
    } finally {
      running.value = null
      runningKnowledge.value = null
      runningThinkingSince.value = null
    }
    await saver.run()
  }

  return {
    isGenerating,
    liveStatus,
    liveKnowledge,
    liveThinkingSince,
    send,
    regenerate,
    editAndResend,
    stop,
  }
})

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    const stop = () => reject(new DOMException('Stopped.', 'AbortError'))
    if (signal.aborted) stop()
    else signal.addEventListener('abort', stop, { once: true })
  })
}

function newMessage(
  role: ChatMessage['role'],
  content: string,
  parentId: string | null,
  status: ChatMessage['status'] = 'done',
): ChatMessage {
  return { id: createId(), parentId, role, content, createdAt: Date.now(), status }
}
