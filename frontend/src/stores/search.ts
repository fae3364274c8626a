// Search in the sidebar: the query, the matches, and the match the user opened (its conversation
// shows it, the query highlighted). The index is built from IndexedDB the first time the search
// box is used, then kept current from the conversation list: a conversation is indexed again
// whenever it was stored since (its updatedAt changed), and dropped once deleted.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, triggerRef, watch } from 'vue'
import * as db from '../services/conversationDb'
import {
  searchConversations,
  searchEntry,
  type SearchEntry,
  type SearchMatch,
} from '../services/conversationSearch'
import type { Conversation } from '../types/chat'
import { useConversationsStore } from './conversations'

/** What the open conversation shows of a search: the message to scroll to, what to mark. */
export interface OpenedMatch {
  conversationId: string
  messageId: string | null
  query: string
}

export const useSearchStore = defineStore('search', () => {
  const conversations = useConversationsStore()
  const query = ref('')
  // Shallow: tens of megabytes of text need no reactive proxies; a change triggers it by hand.
  const entries = shallowRef(new Map<string, SearchEntry>())
  const ready = ref(false)
  const opened = ref<OpenedMatch | null>(null)
  let building: Promise<void> | null = null

  const active = computed(() => query.value.trim() !== '')
  const results = computed<SearchMatch[]>(() => {
    if (!active.value || !ready.value) return []
    const index = entries.value
    const ordered = conversations.metas.flatMap((meta) => index.get(meta.id) ?? [])
    return searchConversations(ordered, query.value)
  })

  /** Build the index, once; later calls wait for the same build. */
  function prepare(): Promise<void> {
    building ??= build()
    return building
  }

  async function build(): Promise<void> {
    const stored = await db.loadAllConversations()
    const index = entries.value
    for (const conversation of stored) index.set(conversation.id, indexed(conversation))
    ready.value = true
    await sync()
  }

  /** An open conversation may hold more than was stored: that copy is the one to index. */
  function indexed(conversation: Conversation): SearchEntry {
    return searchEntry(conversations.loadedConversation(conversation.id) ?? conversation)
  }

  async function sync(): Promise<void> {
    const index = entries.value
    const listed = new Set<string>()
    for (const meta of conversations.metas) {
      listed.add(meta.id)
      if (index.get(meta.id)?.updatedAt === meta.updatedAt) continue
      const conversation = await conversations.getConversation(meta.id)
      if (conversation) index.set(meta.id, searchEntry(conversation))
    }
    for (const id of index.keys()) if (!listed.has(id)) index.delete(id)
    triggerRef(entries)
  }

  watch(
    () => conversations.metas,
    () => ready.value && void sync(),
  )

  async function open(match: SearchMatch): Promise<void> {
    await conversations.select(match.conversationId)
    if (match.messageId) await conversations.showVersion(match.messageId)
    opened.value = {
      conversationId: match.conversationId,
      messageId: match.messageId,
      query: query.value.trim(),
    }
  }

  function clear(): void {
    query.value = ''
    opened.value = null
  }

  return { query, active, ready, results, opened, prepare, open, clear }
})
