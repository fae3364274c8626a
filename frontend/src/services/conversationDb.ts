// Conversations in IndexedDB (database "pocketchat", store "conversations"), one record each with
// its full messages. Values are plain JSON copies: Vue's reactive proxies cannot be cloned.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb'
import type { Conversation, ConversationMeta } from '../types/chat'

interface PocketchatDb extends DBSchema {
  conversations: {
    key: string
    value: Conversation
    indexes: { updatedAt: number }
  }
}

const DB_NAME = 'pocketchat'
const DB_VERSION = 1

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
  return (await db()).get('conversations', id)
}

export async function saveConversation(conversation: Conversation): Promise<void> {
  const plain = JSON.parse(JSON.stringify(conversation)) as Conversation
  await (await db()).put('conversations', plain)
}

export async function deleteConversation(id: string): Promise<void> {
  await (await db()).delete('conversations', id)
}
