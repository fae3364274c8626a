// Rendering a reply that grows every frame. Re-rendering all of a long reply each frame costs
// about 60 ms at 60 kB (measured in Chromium on this 2-core machine), so the text is cut into
// blocks at blank lines outside code fences: finished blocks keep their HTML, only the last one
// is rendered again. Once the reply ends, the whole text is rendered in one piece.
import { renderMarkdown } from './markdown'
import { mathReady } from './mathRenderer'

const FENCE = /^ {0,3}(```|~~~)/

/** Blocks that can no longer change, and the growing tail after them. */
export function splitFinishedBlocks(source: string): { finished: string[]; tail: string } {
  const finished: string[] = []
  let fence: string | null = null
  let blockStart = 0
  let lineStart = 0
  while (lineStart <= source.length) {
    const newline = source.indexOf('\n', lineStart)
    if (newline === -1) break
    const line = source.slice(lineStart, newline)
    const marker = FENCE.exec(line)?.[1]
    if (marker && (fence === null || marker === fence)) fence = fence === null ? marker : null
    // A blank line outside a fence ends a block only once the next line has begun: a list or
    // paragraph may still continue until then.
    if (fence === null && line.trim() === '' && newline + 1 < source.length) {
      const block = source.slice(blockStart, newline)
      if (block.trim() !== '') finished.push(block)
      blockStart = newline + 1
    }
    lineStart = newline + 1
  }
  return { finished, tail: source.slice(blockStart) }
}

export interface StreamingRenderer {
  render: (source: string, copyLabel: string, citations?: number) => string
}

export function createStreamingRenderer(): StreamingRenderer {
  let cachedLabel = ''
  let cachedBlocks: { text: string; html: string }[] = []

  return {
    render(source, copyLabel, citations = 0) {
      // Blocks rendered before KaTeX loaded show their formulas as TeX: render them again.
      const label = `${copyLabel}\u0000${citations}\u0000${mathReady()}`
      if (label !== cachedLabel) {
        cachedBlocks = []
        cachedLabel = label
      }
      const { finished, tail } = splitFinishedBlocks(source)
      const blocks = finished.map((text, index) => {
        const cached = cachedBlocks[index]
        if (cached?.text === text) return cached
        return { text, html: renderMarkdown(text, { copyLabel, citations, streaming: true }) }
      })
      cachedBlocks = blocks
      return (
        blocks.map((block) => block.html).join('') +
        renderMarkdown(tail, { copyLabel, citations, streaming: true })
      )
    },
  }
}
