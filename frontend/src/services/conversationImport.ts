// Reading a conversation file someone else may have written: size limit, JSON parse, schema
// check. Anything else is rejected with a reason; the content is later rendered only through the
// sanitizing Markdown renderer, like any model output.
import * as v from 'valibot'
import type { Conversation } from '../types/chat'
import { EXPORT_FORMAT, EXPORT_VERSION } from './conversationExport'

export const MAX_IMPORT_BYTES = 5 * 1024 * 1024
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
  createdAt: v.optional(timestamp),
  status: v.optional(v.picklist(['done', 'stopped', 'error'])),
  sources: v.optional(v.pipe(v.array(sourceSchema), v.maxLength(50))),
})

const fileSchema = v.object({
  format: v.literal(EXPORT_FORMAT),
  version: v.literal(EXPORT_VERSION),
  conversation: v.object({
    title: v.pipe(v.string(), v.maxLength(MAX_TITLE_CHARS)),
    createdAt: v.optional(timestamp),
    updatedAt: v.optional(timestamp),
    messages: v.pipe(v.array(messageSchema), v.maxLength(MAX_MESSAGES)),
    contextSummary: v.optional(
      v.nullable(
        v.object({
          covers: v.pipe(v.number(), v.integer(), v.minValue(1)),
          hash: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
          text: v.pipe(v.string(), v.maxLength(20_000)),
        }),
      ),
    ),
  }),
})

export type ImportFailure = 'too-large' | 'not-json' | 'invalid'

export class ImportError extends Error {
  readonly failure: ImportFailure
  /** Where the file is wrong (`conversation.messages.3.role`), for the message to the user. */
  readonly path: string | undefined

  constructor(failure: ImportFailure, message: string, path?: string) {
    super(message)
    this.name = 'ImportError'
    this.failure = failure
    this.path = path
  }
}

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
  const source = result.output.conversation
  const createdAt = source.createdAt ?? now
  return {
    id: createId(),
    title: source.title.trim(),
    titleEdited: true,
    createdAt,
    updatedAt: now,
    messages: source.messages.map((message) => ({
      id: createId(),
      role: message.role,
      content: message.content,
      createdAt: message.createdAt ?? createdAt,
      status: message.status ?? 'done',
      ...(message.sources ? { sources: message.sources } : {}),
    })),
    contextSummary: source.contextSummary ?? null,
  }
}
