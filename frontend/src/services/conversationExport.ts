// A conversation as a file: Markdown to read (the version on screen), JSON to import again
// (every version; see conversationImport.ts, which also reads version 1 files, written before
// message versions existed: a plain list of messages). A reply's thinking is in both: in JSON as
// it is stored, in Markdown folded in a <details> block above the answer, as on the page.
import { activePath } from '../lib/messageTree'
import type { Source } from '../types/api'
import type { ChatMessage, Conversation } from '../types/chat'

export const EXPORT_FORMAT = 'pocketchat.conversation'
export const EXPORT_VERSION = 2

export interface ExportedMessage {
  id: string
  parentId: string | null
  role: ChatMessage['role']
  content: string
  reasoning?: string
  reasoningMs?: number
  createdAt: number
  status?: ChatMessage['status']
  sources?: Source[]
}

export interface ConversationFile {
  format: typeof EXPORT_FORMAT
  version: typeof EXPORT_VERSION
  exportedAt: string
  conversation: {
    title: string
    createdAt: number
    updatedAt: number
    messages: ExportedMessage[]
    currentId: string | null
    contextSummary: Conversation['contextSummary']
  }
}

export function conversationToJson(conversation: Conversation): string {
  const file: ConversationFile = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: new Date().toISOString(),
    conversation: {
      title: conversation.title,
      createdAt: conversation.createdAt,
      updatedAt: conversation.updatedAt,
      messages: conversation.messages.map(
        ({ id, parentId, role, content, reasoning, reasoningMs, createdAt, status, sources }) => ({
          id,
          parentId,
          role,
          content,
          ...(reasoning ? { reasoning } : {}),
          ...(reasoning && reasoningMs !== undefined ? { reasoningMs } : {}),
          createdAt,
          // A reply still streaming is exported as what it is in the file: cut off.
          ...(status && status !== 'done'
            ? { status: status === 'streaming' ? 'stopped' : status }
            : {}),
          ...(sources ? { sources } : {}),
        }),
      ),
      currentId: conversation.currentId,
      contextSummary: conversation.contextSummary,
    },
  }
  return JSON.stringify(file, null, 2)
}

export interface MarkdownLabels {
  user: string
  assistant: string
  sources: string
  /** The fold's title: "Thought for 12 s". */
  reasoning: (durationMs: number | undefined) => string
}

export function conversationToMarkdown(conversation: Conversation, labels: MarkdownLabels): string {
  const parts = [`# ${conversation.title}`]
  for (const message of activePath(conversation)) {
    parts.push(`## ${message.role === 'user' ? labels.user : labels.assistant}`)
    if (message.reasoning) parts.push(reasoningBlock(message, labels))
    parts.push(message.content)
    if (message.sources?.length) {
      parts.push(`**${labels.sources}**\n\n${message.sources.map(sourceLine).join('\n')}`)
    }
  }
  return `${parts.join('\n\n')}\n`
}

/**
 * The thinking folded as on the page. Inside <details>, Markdown renders (GitHub, most editors)
 * after a blank line; a `</details>` in the model's text would close the fold early, so its `<`
 * is written as an entity.
 */
function reasoningBlock(message: ChatMessage, labels: MarkdownLabels): string {
  const summary = escapeHtml(labels.reasoning(message.reasoningMs))
  const text = (message.reasoning ?? '').replace(/<(\/?details)/gi, '&lt;$1')
  return `<details>\n<summary>${summary}</summary>\n\n${text}\n\n</details>`
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** "1. report.pdf, p. 3 (Methods)": the file name escaped, so a document cannot add Markdown. */
function sourceLine(source: Source): string {
  const where = [source.page != null ? `p. ${source.page}` : '', source.heading ?? '']
    .filter(Boolean)
    .join(', ')
  const escape = (text: string) => text.replace(/[\\`*_[\]<>#|]/g, '\\$&').replace(/\s+/g, ' ')
  return `${source.index}. ${escape(source.filename)}${where ? ` (${escape(where)})` : ''}`
}

/** A file name from the title that every file system accepts. */
export function exportFileName(title: string, extension: 'md' | 'json'): string {
  const printable = Array.from(title, (char) => (char < ' ' ? ' ' : char)).join('')
  const base = printable
    .replace(/[\\/:*?"<>|]+/g, ' ')
    .trim()
    .slice(0, 60)
  return `${base || 'conversation'}.${extension}`
}

export function downloadText(text: string, fileName: string, mimeType: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: `${mimeType};charset=utf-8` }))
  const link = document.createElement('a')
  link.href = url
  link.download = fileName
  link.click()
  // The click starts the download synchronously; a tick later the URL can go.
  setTimeout(() => URL.revokeObjectURL(url), 0)
}
