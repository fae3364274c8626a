// Citation markers: a "[2]" in a reply that was given 3 passages becomes a button that opens
// source 2. A markdown-it core rule over text tokens, so "[2]" inside code stays as typed; the
// HTML it makes still passes the sanitizer with the rest of the reply.
import type { MarkdownIt, Token } from 'markdown-it'

const MARKER = /\[(\d{1,3})\]/g

/** The button a marker becomes: its text, "[2]", is all it carries. */
export function citationButton(index: number): string {
  return `<button type="button" class="cite">[${Math.trunc(index)}]</button>`
}

/** Split text around the markers that name a source (1 to `count`); others stay text. */
export function splitCitations(text: string, count: number): (string | number)[] {
  const parts: (string | number)[] = []
  let last = 0
  for (const match of text.matchAll(MARKER)) {
    const index = Number(match[1])
    if (index < 1 || index > count) continue
    if (match.index > last) parts.push(text.slice(last, match.index))
    parts.push(index)
    last = match.index + match[0].length
  }
  if (last < text.length) parts.push(text.slice(last))
  return parts
}

/** The plugin; `env.citations` is how many sources the reply has (0 or absent: no change). */
export function citationsPlugin(md: MarkdownIt): void {
  md.core.ruler.push('citations', (state) => {
    const count = Number((state.env as { citations?: number } | undefined)?.citations ?? 0)
    if (count <= 0) return
    for (const block of state.tokens) {
      if (block.type !== 'inline' || !block.children) continue
      block.children = block.children.flatMap((token): Token[] => {
        if (token.type !== 'text') return [token]
        const parts = splitCitations(token.content, count)
        if (parts.length === 1 && typeof parts[0] === 'string') return [token]
        return parts.map((part) => {
          if (typeof part === 'string') {
            const text = new state.Token('text', '', 0)
            text.content = part
            return text
          }
          const html = new state.Token('html_inline', '', 0)
          html.content = citationButton(part)
          return html
        })
      })
    }
  })
}
