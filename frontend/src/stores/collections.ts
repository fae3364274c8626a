// Shared collections of documents, managed in the Knowledge panel and switched on per chat
// (the choice is stored with the conversation). The collections the web app made for one
// chat's attachments are left out: they belong to that chat.
import { defineStore } from 'pinia'
import { reactive, ref } from 'vue'
import { createId } from '../lib/ids'
import * as knowledge from '../services/knowledge'
import type { IndexingState } from '../services/knowledge'
import type { VectorStore, VectorStoreFile } from '../types/api'
import type { Conversation } from '../types/chat'
import { CONVERSATION_METADATA_KEY } from './attachments'
import { useConversationsStore } from './conversations'
import { useServerStore } from './server'

/** A file on its way into a collection, shown with its progress until the list has it. */
export interface CollectionUpload {
  key: string
  name: string
  state: IndexingState
}

export const useCollectionsStore = defineStore('collections', () => {
  const conversations = useConversationsStore()
  const server = useServerStore()
  const stores = ref<VectorStore[]>([])
  const files = reactive(new Map<string, VectorStoreFile[]>())
  const uploads = reactive(new Map<string, CollectionUpload[]>())
  /** The server's reason the last action failed (no embedding model, say), as plain text. */
  const error = ref<string | null>(null)

  const call = <T>(action: (apiKey: string | null) => Promise<T>): Promise<T> =>
    server.authorized(action)

  async function guarded(action: () => Promise<void>): Promise<void> {
    try {
      await action()
      error.value = null
    } catch (failure) {
      error.value = failure instanceof Error ? failure.message : String(failure)
    }
  }

  const refresh = () =>
    guarded(async () => {
      const all = await call((apiKey) => knowledge.listStores({ apiKey }))
      stores.value = all.filter((store) => !(CONVERSATION_METADATA_KEY in store.metadata))
      await Promise.all(stores.value.map((store) => loadFiles(store.id)))
    })

  async function loadFiles(storeId: string): Promise<void> {
    files.set(storeId, await call((apiKey) => knowledge.listStoreFiles(storeId, { apiKey })))
  }

  const create = (name: string) =>
    guarded(async () => {
      const store = await call((apiKey) => knowledge.createStore(name, {}, { apiKey }))
      stores.value = [store, ...stores.value]
      files.set(store.id, [])
    })

  const rename = (storeId: string, name: string) =>
    guarded(async () => {
      const renamed = await call((apiKey) => knowledge.renameStore(storeId, name, { apiKey }))
      stores.value = stores.value.map((store) => (store.id === storeId ? renamed : store))
    })

  const remove = (storeId: string) =>
    guarded(async () => {
      await call((apiKey) => knowledge.deleteStore(storeId, { apiKey }))
      stores.value = stores.value.filter((store) => store.id !== storeId)
      files.delete(storeId)
    })

  const deleteFile = (fileId: string) =>
    guarded(async () => {
      await call((apiKey) => knowledge.deleteFile(fileId, { apiKey }))
      await refresh()
    })

  /** Upload several files at once, each with its own progress; failures keep their reason. */
  async function upload(storeId: string, selected: File[]): Promise<void> {
    if (!uploads.has(storeId)) uploads.set(storeId, [])
    const list = uploads.get(storeId) as CollectionUpload[]
    await Promise.all(
      selected.map(async (file) => {
        list.push({
          key: createId(),
          name: file.name,
          state: { phase: 'uploading', uploaded: 0, chunksDone: 0, chunksTotal: 0 },
        })
        const entry = list[list.length - 1] as CollectionUpload
        const final = await call((apiKey) =>
          knowledge.uploadAndIndex(storeId, file, {
            apiKey,
            onUpdate: (state) => (entry.state = state),
          }),
        ).catch((failure: unknown) => ({
          ...entry.state,
          phase: 'failed' as const,
          error: failure instanceof Error ? failure.message : String(failure),
        }))
        entry.state = final
        // A ready file now shows in the list itself; a refused one keeps its chip and reason.
        if (final.phase === 'ready') list.splice(list.indexOf(entry), 1)
      }),
    )
    await refresh()
  }

  function enabledFor(conversation: Conversation): VectorStore[] {
    const enabled = conversation.sharedStoreIds ?? []
    return stores.value.filter((store) => enabled.includes(store.id))
  }

  async function toggle(conversation: Conversation, storeId: string): Promise<void> {
    const enabled = conversation.sharedStoreIds ?? []
    conversation.sharedStoreIds = enabled.includes(storeId)
      ? enabled.filter((id) => id !== storeId)
      : [...enabled, storeId]
    await conversations.save(conversation)
  }

  return {
    stores,
    files,
    uploads,
    error,
    refresh,
    create,
    rename,
    remove,
    deleteFile,
    upload,
    enabledFor,
    toggle,
  }
})
