// Where formulas are in Markdown: `$…$` and `\(…\)` inline, `$$…$$` and `\[…\]` displayed (on
// lines of their own, or inline in a sentence). The rules make `math_inline` and `math_block`
// tokens whose content is the TeX; markdown.ts renders them. Code is never read as math (the
// fence and backtick rules own it), and money is not either: as in Pandoc, an opening `$` must
// not be followed by a space and a closing one must not follow a space nor precede a digit, so
// "costs $5 and $6" stays text.
import type { MarkdownIt, StateBlock, StateInline } from 'markdown-it'

/** Longer TeX is shown as typed: rendering it would cost more than it could be worth. */
export const MAX_TEX_CHARS = 10_000

const DOLLAR = 0x24
const BACKSLASH = 0x5c

const isSpace = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d
const isDigit = (code: number) => code >= 0x30 && code <= 0x39

/** Where the single `$` that closes one opened at `start` is, or -1. */
function closingDollar(src: string, start: number, max: number): number {
  if (isSpace(src.charCodeAt(start + 1))) return -1
  const limit = Math.min(max, start + 1 + MAX_TEX_CHARS)
  for (let at = src.indexOf('$', start + 1); at !== -1 && at < limit;) {
    const escaped = src.charCodeAt(at - 1) === BACKSLASH
    if (!escaped && at > start + 1 && !isSpace(src.charCodeAt(at - 1))) {
      return isDigit(src.charCodeAt(at + 1)) ? -1 : at
    }
    at = src.indexOf('$', at + 1)
  }
  return -1
}

function pushInline(
  state: StateInline,
  tex: string,
  display: boolean,
  markup: string,
  end: number,
): boolean {
  if (tex.trim() === '' || tex.length > MAX_TEX_CHARS) return false
  const token = state.push('math_inline', 'math', 0)
  token.content = tex
  token.markup = markup
  token.info = display ? 'display' : ''
  state.pos = end
  return true
}

function mathInline(state: StateInline, silent: boolean): boolean {
  const { src, pos: start, posMax: max } = state
  const first = src.charCodeAt(start)
  let opener: string
  let closer: string
  if (first === DOLLAR) {
    if (src.charCodeAt(start + 1) !== DOLLAR) {
      const end = closingDollar(src, start, max)
      if (end === -1) return false
      return silent || pushInline(state, src.slice(start + 1, end), false, '$', end + 1)
    }
    ;[opener, closer] = ['$$', '$$']
  } else if (first === BACKSLASH && src[start + 1] === '(') {
    ;[opener, closer] = ['\\(', '\\)']
  } else if (first === BACKSLASH && src[start + 1] === '[') {
    ;[opener, closer] = ['\\[', '\\]']
  } else {
    return false
  }
  const end = src.indexOf(closer, start + opener.length)
  if (end === -1 || end + closer.length > max) return false
  const display = opener !== '\\('
  return (
    silent ||
    pushInline(state, src.slice(start + opener.length, end), display, opener, end + closer.length)
  )
}

const BLOCK_DELIMITERS: Record<string, string> = { $$: '$$', '\\[': '\\]' }

function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean) {
  // Indented four spaces it is a code block.
  if (state.sCount[startLine]! - state.blkIndent >= 4) return false
  const lineText = (line: number) =>
    state.src.slice(state.bMarks[line]! + state.tShift[line]!, state.eMarks[line]).trimEnd()
  const first = lineText(startLine)
  const opener = first.slice(0, 2)
  const closer = BLOCK_DELIMITERS[opener]
  if (!closer) return false

  const rest = first.slice(2)
  const closedAt = rest.indexOf(closer)
  let tex: string
  let lastLine = startLine
  if (closedAt !== -1) {
    // "$$x$$ and more" is a formula inside a paragraph: the inline rule's.
    if (closedAt + closer.length !== rest.length) return false
    tex = rest.slice(0, closedAt)
  } else {
    const lines = [rest]
    for (lastLine = startLine + 1; ; lastLine++) {
      // A formula has no blank line (TeX would end the paragraph there), and one not closed
      // yet (still streaming) is text for now.
      if (lastLine >= endLine || state.isEmpty(lastLine)) return false
      const text = lineText(lastLine)
      if (text.endsWith(closer)) {
        lines.push(text.slice(0, text.length - closer.length))
        break
      }
      lines.push(text)
    }
    tex = lines.join('\n')
  }
  if (tex.trim() === '' || tex.length > MAX_TEX_CHARS) return false
  if (silent) return true
  const token = state.push('math_block', 'math', 0)
  token.block = true
  token.content = tex
  token.markup = opener
  token.map = [startLine, lastLine + 1]
  state.line = lastLine + 1
  return true
}

export function mathPlugin(md: MarkdownIt): void {
  // Before `escape`, which would read `\(` as an escaped parenthesis.
  md.inline.ruler.before('escape', 'math_inline', mathInline)
  md.block.ruler.before('fence', 'math_block', mathBlock, {
    alt: ['paragraph', 'reference', 'blockquote', 'list'],
  })
}
