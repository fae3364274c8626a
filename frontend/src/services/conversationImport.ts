// Reading a conversation file someone else may have written: size limit, JSON parse, schema
// check, and for version 2 files a check that the versions form a tree. Anything else is
// rejected with a reason; the content is later rendered only through the sanitizing Markdown
// renderer, like any model output. Version 1 files (before message versions) are one list.
import * as v from 'valibot'
import { linkMessages } from '../lib/messageTree'
import type { Conversation } from '../types/chat'
import { EXPORT_FORMAT, EXPORT_VERSION } from './conversationExport'
import { ImportError, MAX_IMPORT_BYTES } from './importFailure'

export { ImportError, MAX_IMPORT_BYTES }
const MAX_MESSAGES = 5000
const MAX_MESSAGE_CHARS = 500_000
const MAX_TITLE_CHARS = 200

const timestamp = v.pipe(v.number(), v.finite(), v.minValue(0))

const text = (max: number) => v.pipe(v.string(), v.maxLength(max))
const sourceSchema = v.object({
  index: v.pipe(v.number(), v.integer(), v.minValue(1)),
  id: text(200),
  file_id: text(200),
  filename: text(1000),
  vector_store_id: text(200),
  page: v.nullable(v.pipe(v.number(), v.integer())),
  heading: v.nullable(text(2000)),
  snippet: text(20_000),
  score: v.pipe(v.number(), v.finite()),
})

const messageSchema = v.object({
  role: v.picklist(['user', 'assistant']),
  content: v.pipe(v.string(), v.maxLength(MAX_MESSAGE_CHARS)),
  reasoning: v.optional(v.pipe(v.string(), v.maxLength(MAX_MESSAGE_CHARS))),
  reasoningMs: v.optional(timestamp),
  createdAt: v.optional(timestamp),
  status: v.optional(v.picklist(['done', 'stopped', 'error'])),
  sources: v.optional(v.pipe(v.array(sourceSchema), v.maxLength(50))),
})

const messageId = v.pipe(v.string(), v.minLength(1), v.maxLength(200))
const versionedMessageSchema = v.object({
  ...messageSchema.entries,
  id: messageId,
  parentId: v.nullable(messageId),
})

const conversationFields = {
  title: v.pipe(v.string(), v.maxLength(MAX_TITLE_CHARS)),
  createdAt: v.optional(timestamp),
  updatedAt: v.optional(timestamp),
  contextSummary: v.optional(
    v.nullable(
      v.object({
        covers: v.pipe(v.number(), v.integer(), v.minValue(1)),
        hash: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
        text: v.pipe(v.string(), v.maxLength(20_000)),
      }),
    ),
  ),
}

const fileSchema = v.variant('version', [
  v.object({
    format: v.literal(EXPORT_FORMAT),
    version: v.literal(1),
    conversation: v.object({
      ...conversationFields,
      messages: v.pipe(v.array(messageSchema), v.maxLength(MAX_MESSAGES)),
    }),
  }),
  v.object({
    format: v.literal(EXPORT_FORMAT),
    version: v.literal(EXPORT_VERSION),
    conversation: v.object({
      ...conversationFields,
      messages: v.pipe(v.array(versionedMessageSchema), v.maxLength(MAX_MESSAGES)),
      currentId: v.optional(v.nullable(messageId)),
    }),
  }),
])

type FileMessage = v.InferOutput<typeof messageSchema> & { id?: string; parentId?: string | null }

/** A new conversation (fresh ids, never the file's) from the text of a file, or ImportError. */
export function parseConversationFile(
  text: string,
  createId: () => string,
  now = Date.now(),
): Conversation {
  // A character is at least one byte, so this never lets a file over the limit through
  // unchecked; the caller also checks File.size before reading.
  if (text.length > MAX_IMPORT_BYTES) {
    throw new ImportError('too-large', `larger than ${MAX_IMPORT_BYTES} bytes`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new ImportError('not-json', error instanceof Error ? error.message : 'not JSON')
  }
  const result = v.safeParse(fileSchema, json)
  if (!result.success) {
    const issue = result.issues[0]
    throw new ImportError('invalid', issue.message, v.getDotPath(issue) ?? undefined)
  }
  const file = result.output
  let currentId: string | null | undefined
  if (file.version === EXPORT_VERSION) {
    currentId = file.conversation.currentId
    checkTree(file.conversation.messages, currentId)
  }
  const source = file.conversation
  const id = createId()
  const createdAt = source.createdAt ?? now
  const messages: FileMessage[] = source.messages
  // The file's ids only name messages within it: each message gets a fresh one. A parent comes
  // before its children (checkTree), so its fresh id is known by then.
  const freshIds = new Map<string, string>()
  const imported = messages.map((message) => {
    const fresh = createId()
    if (message.id !== undefined) freshIds.set(message.id, fresh)
    return {
      id: fresh,
      parentId: message.parentId == null ? message.parentId : freshIds.get(message.parentId),
      role: message.role,
      content: message.content,
      ...(message.reasoning ? { reasoning: message.reasoning } : {}),
      ...(message.reasoning && message.reasoningMs !== undefined
        ? { reasoningMs: message.reasoningMs }
        : {}),
      createdAt: message.createdAt ?? createdAt,
      status: message.status ?? 'done',
      ...(message.sources ? { sources: message.sources } : {}),
    }
  })
  return {
    id,
    title: source.title.trim(),
    titleEdited: true,
    createdAt,
    updatedAt: now,
    // Version 1 messages have no parent: each follows the one before it.
    ...linkMessages(imported, currentId == null ? null : freshIds.get(currentId)),
    contextSummary: source.contextSummary ?? null,
  }
}

/** Ids unique, each parent an earlier message, the current message one of them. */
function checkTree(
  messages: { id: string; parentId: string | null }[],
  currentId: string | null | undefined,
): void {
  const seen = new Set<string>()
  for (const [index, message] of messages.entries()) {
    const path = `conversation.messages.${index}`
    if (seen.has(message.id)) throw new ImportError('invalid', 'repeated id', `${path}.id`)
    if (message.parentId !== null && !seen.has(message.parentId)) {
      throw new ImportError('invalid', 'not an earlier message', `${path}.parentId`)
    }
    seen.add(message.id)
  }
  if (currentId != null && !seen.has(currentId)) {
    throw new ImportError('invalid', 'not a message', 'conversation.currentId')
  }
}
