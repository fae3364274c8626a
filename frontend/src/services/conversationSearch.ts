// Finding conversations by what was said in them: the title and the text of every message (every
// version), ignoring case, as the user types. Each conversation's texts are folded to lower case
// once and joined into one string, so a query costs one indexOf per conversation; what matched
// is found from the offsets. Measured in __tests__/conversationSearch.bench.ts (docs/frontend.md).
import type { Conversation } from '../types/chat'

/** One conversation, ready to search. */
export interface SearchEntry {
  id: string
  updatedAt: number
  title: string
  /** The title, then each message's content: the originals, for the snippets. */
  texts: string[]
  /** The message id of each text after the title. */
  messageIds: string[]
  /** The folded texts joined by SEPARATOR, and where each one starts in it. */
  folded: string
  starts: number[]
}

/** Text around a match: shown as before, <mark>match</mark>, after. */
export interface TextParts {
  before: string
  match: string
  after: string
}

export interface SearchMatch {
  conversationId: string
  title: string
  /** Set when the title holds the query. */
  titleParts: TextParts | null
  /** The first message that holds the query, and its text around the match. */
  messageId: string | null
  snippet: TextParts | null
}

// Never typed into a search box (queries are cleaned of it), so no match spans two texts.
const SEPARATOR = '\u0000'
const SNIPPET_BEFORE = 30
const SNIPPET_AFTER = 90

/**
 * Lower case that keeps every character's position: the few characters whose lower case is
 * longer (İ) stay as they are, so an offset in the folded text is one in the original.
 */
export function fold(text: string): string {
  const lower = text.toLowerCase()
  if (lower.length === text.length) return lower
  return Array.from(text, (char) => {
    const folded = char.toLowerCase()
    return folded.length === char.length ? folded : char
  }).join('')
}

export function searchEntry(conversation: Conversation): SearchEntry {
  const texts = [conversation.title, ...conversation.messages.map((message) => message.content)]
  const starts: number[] = []
  let offset = 0
  for (const text of texts) {
    starts.push(offset)
    offset += text.length + SEPARATOR.length
  }
  return {
    id: conversation.id,
    updatedAt: conversation.updatedAt,
    title: conversation.title,
    texts,
    messageIds: conversation.messages.map((message) => message.id),
    folded: texts.map(fold).join(SEPARATOR),
    starts,
  }
}

/** The query as it is searched for: trimmed, folded, without the separator. */
export function normalizeQuery(query: string): string {
  return fold(query.replaceAll(SEPARATOR, '').trim())
}

/** The conversations that hold the query, those whose title does first, otherwise in order. */
export function searchConversations(entries: Iterable<SearchEntry>, query: string): SearchMatch[] {
  const needle = normalizeQuery(query)
  if (!needle) return []
  const byTitle: SearchMatch[] = []
  const byMessage: SearchMatch[] = []
  for (const entry of entries) {
    const at = entry.folded.indexOf(needle)
    if (at === -1) continue
    const text = textAt(entry.starts, at)
    const titleEnd = entry.title.length
    const titleParts = at < titleEnd ? partsAround(entry.title, at, needle.length, Infinity) : null
    // The title matched: the first message that also does is where the conversation opens.
    const messageAt = titleParts ? entry.folded.indexOf(needle, titleEnd) : at
    const messageText = messageAt === -1 ? 0 : textAt(entry.starts, messageAt)
    const match: SearchMatch = {
      conversationId: entry.id,
      title: entry.title,
      titleParts,
      messageId: messageText > 0 ? (entry.messageIds[messageText - 1] ?? null) : null,
      snippet:
        messageText > 0
          ? partsAround(
              entry.texts[messageText] ?? '',
              messageAt - (entry.starts[messageText] ?? 0),
              needle.length,
              SNIPPET_AFTER,
            )
          : null,
    }
    ;(text === 0 ? byTitle : byMessage).push(match)
  }
  return [...byTitle, ...byMessage]
}

/** Which text an offset of the joined string falls in: the last start at or before it. */
function textAt(starts: number[], offset: number): number {
  let low = 0
  let high = starts.length - 1
  while (low < high) {
    const middle = (low + high + 1) >> 1
    if ((starts[middle] ?? 0) <= offset) low = middle
    else high = middle - 1
  }
  return low
}

function partsAround(text: string, start: number, length: number, after: number): TextParts {
  const end = start + length
  let from = Math.max(0, start - SNIPPET_BEFORE)
  let to = Math.min(text.length, end + after)
  // Never cut an emoji or a rare CJK character (two UTF-16 units) in half.
  if (isLowSurrogate(text, from)) from += 1
  if (isLowSurrogate(text, to)) to -= 1
  const oneLine = (part: string) => part.replace(/\s+/g, ' ')
  return {
    before: (from > 0 ? '…' : '') + oneLine(text.slice(from, start)).trimStart(),
    match: oneLine(text.slice(start, end)),
    after: oneLine(text.slice(end, to)).trimEnd() + (to < text.length ? '…' : ''),
  }
}

function isLowSurrogate(text: string, index: number): boolean {
  const code = text.charCodeAt(index)
  return code >= 0xdc00 && code <= 0xdfff
}
