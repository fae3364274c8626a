// A conversation's versions as a tree. Every message names its parent; a regenerated reply or an
// edited question is a sibling of the message it replaces, so nothing is overwritten. The path
// on screen runs from a first message down to `currentId`. `messages` keeps creation order, so a
// parent always comes before its children and siblings are numbered in the order they were made.
import type { ChatMessage, Conversation } from '../types/chat'

type Tree = Pick<Conversation, 'messages' | 'currentId'>

/** Where a message stands among its versions: `ids[index]` is the message itself. */
export interface MessageVersions {
  index: number
  ids: string[]
}

/** The messages from the first to `currentId`: what the page shows and what a request sends. */
export function activePath(tree: Tree): ChatMessage[] {
  const byId = new Map(tree.messages.map((message) => [message.id, message]))
  const path: ChatMessage[] = []
  let message = tree.currentId === null ? undefined : byId.get(tree.currentId)
  // Bounded by the message count: a parent loop in bad data cannot hang the page.
  while (message && path.length < tree.messages.length) {
    path.push(message)
    message = message.parentId === null ? undefined : byId.get(message.parentId)
  }
  return path.reverse()
}

/** The children of each message (key null: the first messages), oldest first. */
export function childrenByParent(messages: readonly ChatMessage[]): Map<string | null, string[]> {
  const children = new Map<string | null, string[]>()
  for (const message of messages) {
    const siblings = children.get(message.parentId)
    if (siblings) siblings.push(message.id)
    else children.set(message.parentId, [message.id])
  }
  return children
}

/** The versions of each message on the path that has more than one. */
export function pathVersions(tree: Tree): Map<string, MessageVersions> {
  const children = childrenByParent(tree.messages)
  const versions = new Map<string, MessageVersions>()
  for (const message of activePath(tree)) {
    const ids = children.get(message.parentId) ?? []
    if (ids.length > 1) versions.set(message.id, { index: ids.indexOf(message.id), ids })
  }
  return versions
}

/**
 * The message to make current to show `messageId`: the end of its newest line of descendants
 * (at each step the newest child), as in llama.cpp's web UI.
 */
export function newestLeaf(messages: readonly ChatMessage[], messageId: string): string {
  const children = childrenByParent(messages)
  let current = messageId
  for (let depth = 0; depth < messages.length; depth++) {
    const newest = children.get(current)?.at(-1)
    if (newest === undefined) break
    current = newest
  }
  return current
}

/** A message as stored by any version of the app: `parentId` may be absent or wrong. */
export type StoredMessage = Omit<ChatMessage, 'parentId'> & { parentId?: unknown }

/**
 * Messages with a parent each, and a current message that exists. Conversations stored before
 * versions existed have no `parentId`: each message then follows the one before it, which is
 * what they meant. A parent that names no earlier message (bad data) is read the same way, so a
 * message is never lost from view and the tree has no loops; a repeated id gets a new one.
 */
export function linkMessages(
  stored: readonly StoredMessage[],
  currentId: unknown,
): Pick<Conversation, 'messages' | 'currentId'> {
  const seen = new Set<string>()
  const messages: ChatMessage[] = []
  for (const [index, message] of stored.entries()) {
    const id = seen.has(message.id) ? `${message.id}-${index}` : message.id
    const previous = messages.at(-1)?.id ?? null
    const parentId =
      message.parentId === null ||
      (typeof message.parentId === 'string' && seen.has(message.parentId))
        ? message.parentId
        : previous
    seen.add(id)
    messages.push({ ...message, id, parentId })
  }
  const current =
    typeof currentId === 'string' && seen.has(currentId) ? currentId : (messages.at(-1)?.id ?? null)
  return { messages, currentId: current }
}
