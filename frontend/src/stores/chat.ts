// Generating replies: send, stop, regenerate, edit-and-resend. Deltas reach the message at most
// once per animation frame; the conversation is stored when a reply starts, about once a second
// while it streams (a reload keeps what had arrived) and when it ends, however it ends. A save
// never throws: the conversations store reports a failed one, so the reply goes on regardless.
// A conversation with documents first waits for the ones still indexing, then sends `knowledge`.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { createFrameBatcher } from '../lib/frameBatcher'
import { createId } from '../lib/ids'
import { createThrottledTask } from '../lib/throttledTask'
import { cancelChatCompletion, streamChatCompletion } from '../services/chatCompletions'
import { isAbortError } from '../services/http'
import type { QueueStatus } from '../types/api'
import type { ChatMessage, Conversation } from '../types/chat'
import { useAttachmentsStore } from './attachments'
import { buildRequest, describeFailure, replyContextNote, replyStats } from './chatReply'
import { useCollectionsStore } from './collections'
import { useConversationsStore } from './conversations'
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
  /** The last status frame (queued, summarizing, generating) of the running reply. */
  const runningStatus = ref<QueueStatus | null>(null)
  const runningKnowledge = ref<KnowledgeNote | null>(null)

  const isGenerating = computed(() => running.value !== null)

  function liveStatus(messageId: string): QueueStatus | null | undefined {
    return running.value?.messageId === messageId ? runningStatus.value : undefined
  }

  function liveKnowledge(messageId: string): KnowledgeNote | null {
    return running.value?.messageId === messageId ? runningKnowledge.value : null
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
    conversation.messages.push(newMessage('user', text))
    await generate(conversation)
  }

  async function regenerate(): Promise<void> {
    const conversation = conversations.active
    if (!conversation || isGenerating.value) return
    const lastUser = conversation.messages.findLastIndex((message) => message.role === 'user')
    if (lastUser === -1) return
    truncate(conversation, lastUser + 1)
    await generate(conversation)
  }

  async function editAndResend(messageId: string, text: string): Promise<void> {
    const conversation = conversations.active
    if (!conversation || isGenerating.value || !text.trim()) return
    const index = conversation.messages.findIndex((message) => message.id === messageId)
    const message = conversation.messages[index]
    if (!message || message.role !== 'user') return
    message.content = text
    truncate(conversation, index + 1)
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

  function truncate(conversation: Conversation, keep: number): void {
    conversation.messages.splice(keep)
    // The stored summary stands for messages that may just have changed; the server checks its
    // hash anyway, but a summary longer than the conversation is surely stale.
    if (conversation.contextSummary && conversation.contextSummary.covers >= keep) {
      conversation.contextSummary = null
    }
  }

  async function generate(conversation: Conversation): Promise<void> {
    const request = buildRequest(conversation, settings.generation, settings.effectiveSystemPrompt)
    conversation.messages.push(newMessage('assistant', '', 'streaming'))
    const saver = createThrottledTask(() => conversations.save(conversation), {
      intervalMs: SAVE_WHILE_STREAMING_MS,
    })
    await saver.run()
    // The reactive proxy of the message just pushed: writes through it update the view.
    const message = conversation.messages[conversation.messages.length - 1] as ChatMessage
    const reply: RunningReply = {
      messageId: message.id,
      controller: new AbortController(),
      completionId: null,
    }
    running.value = reply
    runningStatus.value = null
    runningKnowledge.value = null
    const batcher = createFrameBatcher({
      onFlush: (text) => {
        message.content += text
        saver.poke()
      },
    })

    try {
      const storeIds = await knowledgeFor(conversation, reply.controller.signal)
      if (storeIds.length > 0) request.knowledge = { vector_store_ids: storeIds }
      const result = await server.authorized((apiKey) =>
        streamChatCompletion(
          request,
          { signal: reply.controller.signal, apiKey },
          {
            onDelta: (text) => batcher.push(text),
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
      batcher.flush()
      message.content = result.content
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
      batcher.flush()
      if (isAbortError(error)) {
        message.status = 'stopped'
      } else {
        message.status = 'error'
        message.error = describeFailure(error)
      }
    } finally {
      batcher.cancel()
      running.value = null
      runningKnowledge.value = null
    }
    await saver.run()
  }

  return { isGenerating, liveStatus, liveKnowledge, send, regenerate, editAndResend, stop }
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
  status: ChatMessage['status'] = 'done',
): ChatMessage {
  return { id: createId(), role, content, createdAt: Date.now(), status }
}
