// Conversations in IndexedDB (database "pocketchat", store "conversations"), one record each with
// its full messages. Values are plain JSON copies: Vue's reactive proxies cannot be cloned.
// Records are read through `readConversation`, which also reads those stored before message
// versions existed (no `parentId`, no `currentId`): they open unchanged, and are written in the
// new shape the next time they are saved.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb'
import { linkMessages, type StoredMessage } from '../lib/messageTree'
import type { Conversation, ConversationMeta, SaveFailure } from '../types/chat'

/** A record as any version of the app wrote it. */
type StoredConversation = Omit<Conversation, 'messages' | 'currentId'> & {
  messages?: unknown
  currentId?: unknown
}

interface PocketchatDb extends DBSchema {
  conversations: {
    key: string
    value: StoredConversation
    indexes: { updatedAt: number }
  }
}

const DB_NAME = 'pocketchat'
const DB_VERSION = 1
/** Fresh ids a new record may take: random ids do not collide by chance, a bug makes them. */
const ADD_ATTEMPTS = 3

let connection: Promise<IDBPDatabase<PocketchatDb>> | null = null

function db(): Promise<IDBPDatabase<PocketchatDb>> {
  connection ??= openDB<PocketchatDb>(DB_NAME, DB_VERSION, {
    upgrade(database) {
      const store = database.createObjectStore('conversations', { keyPath: 'id' })
      store.createIndex('updatedAt', 'updatedAt')
    },
    blocking() {
      // A newer version of the app opened the database in another tab: let it upgrade.
      void connection?.then((open) => open.close())
      connection = null
    },
  })
  return connection
}

/** Newest first. */
export async function listConversations(): Promise<ConversationMeta[]> {
  const database = await db()
  const metas: ConversationMeta[] = []
  let cursor = await database
    .transaction('conversations')
    .store.index('updatedAt')
    .openCursor(null, 'prev')
  while (cursor) {
    const { id, title, updatedAt } = cursor.value
    metas.push({ id, title, updatedAt })
    cursor = await cursor.continue()
  }
  return metas
}

export async function loadConversation(id: string): Promise<Conversation | undefined> {
  const record = await (await db()).get('conversations', id)
  return record && readConversation(record)
}

/** Every stored conversation, in no particular order (for the search index). */
export async function loadAllConversations(): Promise<Conversation[]> {
  return (await (await db()).getAll('conversations')).map(readConversation)
}

function readConversation(record: StoredConversation): Conversation {
  const stored = Array.isArray(record.messages) ? (record.messages as unknown[]) : []
  return {
    ...record,
    title: typeof record.title === 'string' ? record.title : '',
    contextSummary: record.contextSummary ?? null,
    ...linkMessages(stored.filter(isMessage), record.currentId),
  }
}

/** The least a message needs to be shown; no version of the app stored anything less. */
function isMessage(value: unknown): value is StoredMessage {
  const message = value as Partial<StoredMessage> | null
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof message.id === 'string' &&
    (message.role === 'user' || message.role === 'assistant') &&
    typeof message.content === 'string'
  )
}

const plainCopy = (conversation: Conversation) =>
  JSON.parse(JSON.stringify(conversation)) as Conversation

/** Store a conversation, replacing the record with its id. */
export async function saveConversation(conversation: Conversation): Promise<void> {
  await (await db()).put('conversations', plainCopy(conversation))
}

/**
 * Store a conversation as a new record. IndexedDB's `add` refuses an id that exists, and then a
 * fresh one is taken: this never replaces another conversation. Resolves with the record stored.
 */
export async function addConversation(
  conversation: Conversation,
  freshId: () => string,
): Promise<Conversation> {
  let record = plainCopy(conversation)
  for (let attempt = 1; ; attempt++) {
    try {
      await (await db()).add('conversations', record)
      return record
    } catch (error) {
      if (errorName(error) !== 'ConstraintError' || attempt >= ADD_ATTEMPTS) throw error
      record = { ...record, id: freshId() }
    }
  }
}

export async function deleteConversation(id: string): Promise<void> {
  await (await db()).delete('conversations', id)
}

/** Why a write failed, in the app's terms: a full disk (the user can free space) or anything else. */
export function describeSaveFailure(error: unknown): SaveFailure {
  if (errorName(error) === 'QuotaExceededError') return { kind: 'quota' }
  return { kind: 'other', message: error instanceof Error ? error.message : String(error) }
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error || error instanceof DOMException ? error.name : undefined
}
