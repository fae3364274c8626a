// Files attached to a conversation: each lives in the conversation's own collection, created on
// the first attach (its id is stored with the conversation). Chips follow a file from upload
// through indexing to ready or the server's reason; a question waits for the ones indexing.
import { defineStore } from 'pinia'
import { reactive } from 'vue'
import { createId } from '../lib/ids'
import * as knowledge from '../services/knowledge'
import type { IndexingState } from '../services/knowledge'
import type { Conversation } from '../types/chat'
import { useConversationsStore } from './conversations'
import { useServerStore } from './server'

export interface Attachment {
  key: string
  name: string
  bytes: number
  state: IndexingState
  /** Settles when indexing has ended, however it ended. */
  settled: Promise<void>
}

/** Marks the collections the web app made for one chat, apart from the shared ones. */
export const CONVERSATION_METADATA_KEY = 'pocketchat_conversation'

const isPending = (attachment: Attachment) =>
  attachment.state.phase === 'uploading' || attachment.state.phase === 'indexing'

export const useAttachmentsStore = defineStore('attachments', () => {
  const conversations = useConversationsStore()
  const server = useServerStore()
  const byConversation = reactive(new Map<string, Attachment[]>())
  const storeCreation = new Map<string, Promise<string>>()

  const list = (conversationId: string): Attachment[] => byConversation.get(conversationId) ?? []
  const pending = (conversationId: string) => list(conversationId).filter(isPending)
  const ready = (conversationId: string) =>
    list(conversationId).filter((attachment) => attachment.state.phase === 'ready')

  function listFor(conversationId: string): Attachment[] {
    let attachments = byConversation.get(conversationId)
    if (!attachments) {
      byConversation.set(conversationId, [])
      attachments = byConversation.get(conversationId) as Attachment[]
    }
    return attachments
  }

  /** The files of a conversation opened again (after a reload), as the server knows them. */
  async function load(conversation: Conversation): Promise<void> {
    const storeId = conversation.attachmentStoreId
    if (!storeId || byConversation.has(conversation.id)) return
    const attachments = listFor(conversation.id)
    const files = await server
      .authorized((apiKey) => knowledge.listStoreFiles(storeId, { apiKey }))
      .catch(() => [])
    for (const file of files) {
      const attachment = reactive({
        key: createId(),
        name: file.filename,
        bytes: file.usage_bytes,
        state: knowledge.indexingState(file),
        settled: Promise.resolve(),
      }) as Attachment
      attachments.push(attachment)
      if (isPending(attachment)) {
        attachment.settled = server
          .authorized((apiKey) =>
            knowledge.waitForIndexing(storeId, file.id, {
              apiKey,
              onUpdate: (update) => (attachment.state = knowledge.indexingState(update)),
            }),
          )
          .then(
            (final) => void (attachment.state = knowledge.indexingState(final)),
            (error: unknown) => fail(attachment, error),
          )
      }
    }
  }

  function ensureStore(conversation: Conversation): Promise<string> {
    if (conversation.attachmentStoreId) return Promise.resolve(conversation.attachmentStoreId)
    let creation = storeCreation.get(conversation.id)
    if (!creation) {
      creation = server
        .authorized((apiKey) =>
          knowledge.createStore(
            `Chat ${conversation.id.slice(0, 8)}`,
            { [CONVERSATION_METADATA_KEY]: conversation.id },
            { apiKey },
          ),
        )
        .then(async (store) => {
          conversation.attachmentStoreId = store.id
          await conversations.save(conversation)
          return store.id
        })
        .finally(() => storeCreation.delete(conversation.id))
      storeCreation.set(conversation.id, creation)
    }
    return creation
  }

  /** Upload and index files into the conversation's collection, one chip each. */
  function attach(conversation: Conversation, files: File[]): void {
    const attachments = listFor(conversation.id)
    for (const file of files) {
      attachments.push({
        key: createId(),
        name: file.name,
        bytes: file.size,
        state: { phase: 'uploading', uploaded: 0, chunksDone: 0, chunksTotal: 0 },
        settled: Promise.resolve(),
      })
      // The reactive proxy of the chip just pushed: writes through it update the view.
      const attachment = attachments[attachments.length - 1] as Attachment
      attachment.settled = ensureStore(conversation)
        .then((storeId) =>
          server.authorized((apiKey) =>
            knowledge.uploadAndIndex(storeId, file, {
              apiKey,
              onUpdate: (state) => (attachment.state = state),
            }),
          ),
        )
        .then(
          // Settled means no longer pending, which waitUntilIndexed relies on.
          (final) => void (attachment.state = final),
          (error: unknown) => fail(attachment, error),
        )
    }
  }

  function fail(attachment: Attachment, error: unknown): void {
    attachment.state = {
      ...attachment.state,
      phase: 'failed',
      error: error instanceof Error ? error.message : String(error),
    }
  }

  /** Take a file out of the conversation: off its chip, out of its collection, off the server. */
  async function remove(conversation: Conversation, key: string): Promise<void> {
    const attachments = listFor(conversation.id)
    const index = attachments.findIndex((attachment) => attachment.key === key)
    const attachment = attachments[index]
    if (!attachment) return
    attachments.splice(index, 1)
    const { fileId } = attachment.state
    if (!fileId) return
    // Deleting the file removes its passages from every collection, this one included.
    await server
      .authorized((apiKey) => knowledge.deleteFile(fileId, { apiKey }))
      .catch(() => undefined)
  }

  /** A deleted conversation takes its files and their collection off the server. */
  async function forget(conversation: Conversation): Promise<void> {
    byConversation.delete(conversation.id)
    const storeId = conversation.attachmentStoreId
    if (!storeId) return
    await server
      .authorized(async (apiKey) => {
        const files = await knowledge.listStoreFiles(storeId, { apiKey })
        await Promise.all(files.map((file) => knowledge.deleteFile(file.id, { apiKey })))
        await knowledge.deleteStore(storeId, { apiKey })
      })
      .catch(() => undefined)
  }

  /** Resolves once no file of the conversation is uploading or indexing. */
  async function waitUntilIndexed(conversationId: string): Promise<void> {
    // Files attached meanwhile are waited for too; a settled file is never pending again.
    for (let waiting = pending(conversationId); waiting.length > 0;) {
      await Promise.all(waiting.map((attachment) => attachment.settled))
      const still = pending(conversationId)
      if (still.every((attachment) => waiting.includes(attachment))) return
      waiting = still
    }
  }

  return { list, pending, ready, load, attach, remove, forget, waitUntilIndexed }
})
