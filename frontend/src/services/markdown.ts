// Markdown to safe HTML: markdown-it without raw HTML, highlight.js for fenced code, KaTeX for
// formulas, DOMPurify last. Finished messages are memoized, so switching conversations does not
// re-render history. A formula's HTML is sanitized on its own (it needs inline styles, which
// nothing else may have) and put in place of its slot once the rest has been sanitized; the
// slot is an element only this renderer makes (raw HTML in the source is shown as text).
import MarkdownIt, { type RendererRule } from 'markdown-it'
import { citationsPlugin } from './citations'
import { highlightCode } from './highlight'
import { mathReady, renderTex } from './mathRenderer'
import { mathPlugin } from './mathSyntax'
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
md.use(mathPlugin)

type RenderEnv = {
  copyLabel: string
  citations: number
  /** The HTML of each formula rendered, by slot number. */
  formulas: string[]
}

const CLOSERS: Record<string, string> = { $: '$', $$: '$$', '\\(': '\\)', '\\[': '\\]' }
const SLOT = /<span class="math-slot-(\d+)"><\/span>/g

function mathRule(display: boolean): RendererRule {
  return (tokens, index, _options, env) => {
    const token = tokens[index]
    if (!token) return ''
    const displayMode = display || token.info === 'display'
    const html = renderTex(token.content, displayMode)
    if (html === null) {
      // KaTeX is loading (or failed to): the TeX as it was written, as text.
      const closer = CLOSERS[token.markup] ?? ''
      const tex = escapeHtml(`${token.markup}${token.content}${closer}`)
      return display
        ? `<p class="math-source">${tex}</p>\n`
        : `<span class="math-source">${tex}</span>`
    }
    const { formulas } = env as RenderEnv
    formulas.push(html)
    const slot = `<span class="math-slot-${formulas.length - 1}"></span>`
    return display ? `<div class="math-display">${slot}</div>\n` : slot
  }
}
md.renderer.rules.math_inline = mathRule(false)
md.renderer.rules.math_block = mathRule(true)

md.renderer.rules.fence = (tokens, index, _options, env) => {
  const token = tokens[index]
  if (!token) return ''
  const language = token.info.trim().split(/\s+/)[0]?.toLowerCase() ?? ''
  const highlighted = highlightCode(token.content, language)
  const code = highlighted ?? escapeHtml(token.content)
  const label = language
    ? `<span class="code-lang">${escapeHtml(language)}</span>`
    : '<span></span>'
  const copyLabel = escapeHtml((env as RenderEnv).copyLabel)
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
  // Formulas render differently once KaTeX has loaded.
  const key = `${options.copyLabel}\u0000${citations}\u0000${mathReady()}\u0000${source}`
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
  const env: RenderEnv = { copyLabel, citations, formulas: [] }
  const html = sanitizeHtml(md.render(source, env))
  if (env.formulas.length === 0) return html
  return html.replace(SLOT, (_slot, index: string) => env.formulas[Number(index)] ?? '')
}
