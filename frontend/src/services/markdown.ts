// Markdown to safe HTML: markdown-it without raw HTML, highlight.js for fenced code, DOMPurify
// last. Finished messages are memoized, so switching conversations does not re-render history.
import MarkdownIt from 'markdown-it'
import { citationsPlugin } from './citations'
import { highlightCode } from './highlight'
import { sanitizeHtml } from './sanitize'

export interface RenderOptions {
  /** Label of the copy button on code blocks, in the UI language. */
  copyLabel: string
  /** Set for the message still streaming: its text changes every frame, so never cache it. */
  streaming?: boolean
  /** How many sources the reply has: its [1]…[n] markers become buttons that open them. */
  citations?: number
}

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false })
const escapeHtml = md.utils.escapeHtml
md.use(citationsPlugin)

md.renderer.rules.fence = (tokens, index, _options, env) => {
  const token = tokens[index]
  if (!token) return ''
  const language = token.info.trim().split(/\s+/)[0]?.toLowerCase() ?? ''
  const highlighted = highlightCode(token.content, language)
  const code = highlighted ?? escapeHtml(token.content)
  const label = language
    ? `<span class="code-lang">${escapeHtml(language)}</span>`
    : '<span></span>'
  const copyLabel = escapeHtml(String(env?.copyLabel ?? 'Copy'))
  return (
    `<div class="code-block"><div class="code-header">${label}` +
    `<button type="button" class="code-copy">${copyLabel}</button></div>` +
    `<pre><code class="hljs${highlighted ? ` language-${escapeHtml(language)}` : ''}">${code}</code></pre></div>\n`
  )
}

// An image would make the browser fetch whatever address the model (or an imported file) chose;
// show it as a link instead, which loads nothing until clicked.
md.renderer.rules.image = (tokens, index) => {
  const token = tokens[index]
  if (!token) return ''
  const src = escapeHtml(String(token.attrGet('src') ?? ''))
  const alt = escapeHtml(token.content || src)
  return `<a href="${src}">${alt}</a>`
}

const CACHE_LIMIT = 300
const cache = new Map<string, string>()

export function renderMarkdown(source: string, options: RenderOptions): string {
  const citations = options.citations ?? 0
  if (options.streaming) return render(source, options.copyLabel, citations)
  const key = `${options.copyLabel}\u0000${citations}\u0000${source}`
  const cached = cache.get(key)
  if (cached !== undefined) {
    // Map keeps insertion order: re-inserting marks the entry as recently used.
    cache.delete(key)
    cache.set(key, cached)
    return cached
  }
  const html = render(source, options.copyLabel, citations)
  cache.set(key, html)
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value as string)
  return html
}

function render(source: string, copyLabel: string, citations: number): string {
  return sanitizeHtml(md.render(source, { copyLabel, citations }))
}
