// The conversation list and the open conversation, persisted in IndexedDB. A conversation
// object, once loaded, stays the same reactive object: a reply still streaming into it keeps
// appearing when the user switches away and back. A save that fails (a full disk, above all)
// loses nothing from the page: the conversation stays in memory, `saveFailure` says why, and
// every later save stores it again until one works.
import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import { createId } from '../lib/ids'
import { activePath, newestLeaf, pathVersions, type MessageVersions } from '../lib/messageTree'
import { titleFromMessage } from '../lib/titles'
import * as db from '../services/conversationDb'
import type { Conversation, ConversationMeta, SaveFailure } from '../types/chat'

export const useConversationsStore = defineStore('conversations', () => {
  const metas = ref<ConversationMeta[]>([])
  const loaded = reactive(new Map<string, Conversation>())
  const activeId = ref<string | null>(null)
  const ready = ref(false)
  /** Why the last save failed, until a save stores every conversation held only in memory. */
  const saveFailure = ref<SaveFailure | null>(null)
  /** The user closed the alert: it stays closed until saving works again. */
  const saveFailureDismissed = ref(false)
  /** Ids of the conversations not stored since their last change, or being stored right now. */
  const unsaved = new Set<string>()

  const active = computed(() => (activeId.value ? (loaded.get(activeId.value) ?? null) : null))
  /** The version on screen of the open conversation. */
  const activeMessages = computed(() => (active.value ? activePath(active.value) : []))
  /** For each message on screen that has several versions, which one it is. */
  const activeVersions = computed(() =>
    active.value ? pathVersions(active.value) : new Map<string, MessageVersions>(),
  )

  function blank(): Conversation {
    const now = Date.now()
    return {
      id: createId(),
      title: '',
      titleEdited: false,
      createdAt: now,
      updatedAt: now,
      messages: [],
      currentId: null,
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

  /** Store a conversation. Never rejects: a failure is kept in `saveFailure`, and retried. */
  async function save(conversation: Conversation): Promise<void> {
    conversation.updatedAt = Date.now()
    if (!conversation.titleEdited) {
      const firstUser = activePath(conversation).find((message) => message.role === 'user')
      if (firstUser) conversation.title = titleFromMessage(firstUser.content)
    }
    listFirst(conversation)
    unsaved.add(conversation.id)
    await storeUnsaved()
  }

  /** Store every conversation held only in memory: each save retries the ones that failed. */
  async function storeUnsaved(): Promise<void> {
    let failure: SaveFailure | null = null
    for (const id of [...unsaved]) {
      const conversation = loaded.get(id)
      try {
        if (conversation) await db.saveConversation(conversation)
        unsaved.delete(id)
      } catch (error) {
        failure = db.describeSaveFailure(error)
      }
    }
    if (failure) {
      saveFailure.value = failure
    } else if (unsaved.size === 0) {
      // Checked again: another save may have started meanwhile, and it may fail yet.
      saveFailure.value = null
      saveFailureDismissed.value = false
    }
  }

  function dismissSaveFailure(): void {
    saveFailureDismissed.value = true
  }

  function listFirst(conversation: Conversation): void {
    const meta = {
      id: conversation.id,
      title: conversation.title,
      updatedAt: conversation.updatedAt,
    }
    metas.value = [meta, ...metas.value.filter((item) => item.id !== conversation.id)]
  }

  /**
   * Show the version of the open conversation that holds `messageId` (ending with its newest
   * replies), and store that choice. Nothing changes when it is on screen already.
   */
  async function showVersion(messageId: string): Promise<void> {
    const conversation = active.value
    if (
      !conversation ||
      activeMessages.value.some((message) => message.id === messageId) ||
      !conversation.messages.some((message) => message.id === messageId)
    ) {
      return
    }
    conversation.currentId = newestLeaf(conversation.messages, messageId)
    const path = activePath(conversation)
    forgetStaleSummary(
      conversation,
      path.findIndex((message) => message.id === messageId),
    )
    await save(conversation)
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
    unsaved.delete(id)
    metas.value = metas.value.filter((item) => item.id !== id)
    // Deleting is how the user frees space: store what could not be stored before.
    if (unsaved.size > 0) await storeUnsaved()
    if (activeId.value !== id) return
    const next = metas.value[0]
    if (next) await select(next.id)
    else newChat()
  }

  /**
   * Parse, validate and store an exported file as a new conversation that never replaces one
   * (see db.addConversation). Throws ImportError for a bad file, or the storage error: nothing
   * is lost then, the file is still there.
   */
  async function importFile(text: string): Promise<Conversation> {
    // The parser and its schema library load with the first import, not with the page.
    const { parseConversationFile } = await import('../services/conversationImport')
    const conversation = await db.addConversation(parseConversationFile(text, createId), createId)
    loaded.set(conversation.id, conversation)
    listFirst(conversation)
    activeId.value = conversation.id
    return conversation
  }

  async function getConversation(id: string): Promise<Conversation | undefined> {
    return loaded.get(id) ?? (await db.loadConversation(id))
  }

  /** The conversation if it is open or was opened, which may hold more than was stored. */
  function loadedConversation(id: string): Conversation | undefined {
    return loaded.get(id)
  }

  return {
    metas,
    active,
    activeId,
    activeMessages,
    activeVersions,
    ready,
    saveFailure,
    saveFailureDismissed,
    init,
    newChat,
    select,
    save,
    dismissSaveFailure,
    showVersion,
    rename,
    remove,
    importFile,
    getConversation,
    loadedConversation,
  }
})

/**
 * The stored summary stands for the first `covers` messages of one version; once a message at
 * `changedAt` or before it differs, it stands for messages no longer sent. The server checks its
 * hash anyway, but a summary that surely no longer fits is not worth sending.
 */
export function forgetStaleSummary(conversation: Conversation, changedAt: number): void {
  if (conversation.contextSummary && conversation.contextSummary.covers > changedAt) {
    conversation.contextSummary = null
  }
}
