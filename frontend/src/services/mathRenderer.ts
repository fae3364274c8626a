// Formulas to HTML with KaTeX, bundled and loaded the first time a formula is rendered: its
// script (about 75 kB gzipped), CSS and fonts cost a conversation without formulas nothing.
// Until it has loaded, a formula shows as the TeX it was written in. TeX is untrusted input:
// `trust: false` refuses \href, \url, \includegraphics and \html*, `maxExpand` bounds macro
// expansion and `maxSize` any size a formula asks for; the HTML KaTeX makes still goes through
// its own sanitizer profile (sanitizeMathHtml).
import type { KatexOptions } from 'katex'
import { sanitizeMathHtml } from './sanitize'

type Katex = typeof import('katex').default

const OPTIONS: KatexOptions = {
  throwOnError: false,
  trust: false,
  maxExpand: 1000,
  maxSize: 20,
  strict: 'ignore',
  output: 'htmlAndMathml',
}

let katex: Katex | null = null
let loading: Promise<void> | null = null

/** Load KaTeX and its CSS (once; a failed load is not retried, formulas then stay TeX). */
export function loadMath(): Promise<void> {
  loading ??= Promise.all([import('katex'), import('katex/dist/katex.min.css')]).then(
    ([module]) => {
      katex = module.default
    },
  )
  return loading
}

export function mathReady(): boolean {
  return katex !== null
}

/** The load a formula started and that has not finished yet, if any. */
export function mathLoading(): Promise<void> | null {
  return katex === null ? loading : null
}

/** A formula as sanitized HTML, or null while KaTeX is not loaded (the call starts loading). */
export function renderTex(tex: string, displayMode: boolean): string | null {
  if (!katex) {
    loadMath().catch(() => undefined)
    return null
  }
  try {
    return sanitizeMathHtml(katex.renderToString(tex, { ...OPTIONS, displayMode }))
  } catch {
    // throwOnError: false turns TeX errors into red text; anything else shows the TeX as typed.
    return null
  }
}
