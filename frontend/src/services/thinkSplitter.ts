// A reply's `<think>…</think>` opening split off its text as it streams, for servers that leave
// it in `content` (older ones, or a model whose chat template the server does not read as a
// reasoning one). The same rule as the server's own parser (backend chat/output.py): only a
// block at the very start counts, and the whitespace around the tags belongs to neither part.

const OPENING = '<think>'
const CLOSING = '</think>'

/** What became certain with a piece of text; either part may be ''. */
export interface ThinkParts {
  reasoning: string
  content: string
}

export interface ThinkSplitter {
  push: (text: string) => ThinkParts
  /** The reply ended: whatever was held back, in the part it was in. */
  end: () => ThinkParts
}

export function createThinkSplitter(): ThinkSplitter {
  let state: 'start' | 'reasoning' | 'content' = 'start'
  // Text not given out yet: it may be the start of a tag, split over several deltas.
  let pending = ''
  // Drop the whitespace that opens the next part.
  let strip = false

  /** The pending text that is certain now: not what may begin `tag`, nor whitespace before it. */
  function release(tag: string | null, final: boolean): string {
    let text = pending
    if (strip) {
      text = text.trimStart()
      strip = text === ''
    }
    if (final || tag === null) {
      pending = ''
      return text
    }
    const ready = text.slice(0, text.length - tagStart(text, tag)).trimEnd()
    pending = text.slice(ready.length)
    return ready
  }

  function drain(final: boolean): ThinkParts {
    const parts: ThinkParts = { reasoning: '', content: '' }
    for (;;) {
      if (state === 'start') {
        const text = pending.trimStart()
        if (text.startsWith(OPENING)) {
          pending = text.slice(OPENING.length)
          state = 'reasoning'
          strip = true
          continue
        }
        if (!final && OPENING.startsWith(text)) return parts
        state = 'content'
        continue
      }
      if (state === 'reasoning') {
        const at = pending.indexOf(CLOSING)
        if (at < 0) {
          parts.reasoning += release(CLOSING, final)
          return parts
        }
        const before = pending.slice(0, at)
        parts.reasoning += (strip ? before.trimStart() : before).trimEnd()
        pending = pending.slice(at + CLOSING.length)
        state = 'content'
        strip = true
        continue
      }
      parts.content += release(null, final)
      return parts
    }
  }

  return {
    push(text) {
      pending += text
      return drain(false)
    },
    end: () => drain(true),
  }
}

/** The length of the longest end of `text` that begins `tag`. */
function tagStart(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (text.endsWith(tag.slice(0, length))) return length
  }
  return 0
}
