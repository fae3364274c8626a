// The conversation list and the open conversation, persisted in IndexedDB. A conversation
// object, once loaded, stays the same reactive object: a reply still streaming into it keeps
// appearing when the user switches away and back.
import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import { createId } from '../lib/ids'
import { titleFromMessage } from '../lib/titles'
import * as db from '../services/conversationDb'
import { parseConversationFile } from '../services/conversationImport'
import type { Conversation, ConversationMeta } from '../types/chat'

export const useConversationsStore = defineStore('conversations', () => {
  const metas = ref<ConversationMeta[]>([])
  const loaded = reactive(new Map<string, Conversation>())
  const activeId = ref<string | null>(null)
  const ready = ref(false)

  const active = computed(() => (activeId.value ? (loaded.get(activeId.value) ?? null) : null))

  function blank(): Conversation {
    const now = Date.now()
    return {
      id: createId(),
      title: '',
      titleEdited: false,
      createdAt: now,
      updatedAt: now,
      messages: [],
      contextSummary: null,
    }
  }

  async function init(): Promise<void> {
    metas.value = await db.listConversations()
    const newest = metas.value[0]
    if (newest) await select(newest.id)
    else newChat()
    ready.value = true
  }

  /** An empty conversation; it is stored only once it has a message. */
  function newChat(): void {
    if (active.value && active.value.messages.length === 0) return
    const conversation = blank()
    loaded.set(conversation.id, conversation)
    activeId.value = conversation.id
  }

  async function select(id: string): Promise<void> {
    if (!loaded.has(id)) {
      const stored = await db.loadConversation(id)
      if (!stored) return
      // A reply cannot still be streaming after a reload: it was cut off.
      for (const message of stored.messages) {
        if (message.status === 'streaming') message.status = 'stopped'
      }
      loaded.set(id, stored)
    }
    activeId.value = id
  }

  async function save(conversation: Conversation): Promise<void> {
    conversation.updatedAt = Date.now()
    if (!conversation.titleEdited) {
      const firstUser = conversation.messages.find((message) => message.role === 'user')
      if (firstUser) conversation.title = titleFromMessage(firstUser.content)
    }
    await db.saveConversation(conversation)
    const meta = {
      id: conversation.id,
      title: conversation.title,
      updatedAt: conversation.updatedAt,
    }
    metas.value = [meta, ...metas.value.filter((item) => item.id !== conversation.id)]
  }

  async function rename(id: string, title: string): Promise<void> {
    await select(id)
    const conversation = loaded.get(id)
    if (!conversation || !title.trim()) return
    conversation.title = title.trim()
    conversation.titleEdited = true
    await save(conversation)
  }

  async function remove(id: string): Promise<void> {
    await db.deleteConversation(id)
    loaded.delete(id)
    metas.value = metas.value.filter((item) => item.id !== id)
    if (activeId.value !== id) return
    const next = metas.value[0]
    if (next) await select(next.id)
    else newChat()
  }

  /** Parse, validate and store an exported file; throws ImportError for a bad one. */
  async function importFile(text: string): Promise<Conversation> {
    const conversation = parseConversationFile(text, createId)
    loaded.set(conversation.id, conversation)
    await save(conversation)
    activeId.value = conversation.id
    return conversation
  }

  async function getConversation(id: string): Promise<Conversation | undefined> {
    return loaded.get(id) ?? (await db.loadConversation(id))
  }

  return {
    metas,
    active,
    activeId,
    ready,
    init,
    newChat,
    select,
    save,
    rename,
    remove,
    importFile,
    getConversation,
  }
})
