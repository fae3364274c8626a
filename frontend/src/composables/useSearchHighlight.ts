// Marks a search's matches in the text under an element with the CSS Custom Highlight API, so no
// node is added to the sanitized HTML of a message. Kept current while that HTML changes (a reply
// streaming, formulas rendered once KaTeX has loaded), at most once a frame. Browsers without
// the API show no marks; opening a match still scrolls to it (firstMatch).
import { onScopeDispose, watch, type Ref } from 'vue'
import { fold, normalizeQuery } from '../services/conversationSearch'

const HIGHLIGHT = 'pocketchat-search'
/** Enough to mark every match on screen; a one-letter query in a long chat has thousands. */
const MAX_MARKS = 2000

function matchRanges(root: Node, query: string, limit: number): Range[] {
  const needle = normalizeQuery(query)
  const ranges: Range[] = []
  if (!needle) return ranges
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT)
  for (let node = walker.nextNode(); node && ranges.length < limit; node = walker.nextNode()) {
    const text = fold(node.nodeValue ?? '')
    for (let at = text.indexOf(needle); at !== -1 && ranges.length < limit;) {
      const range = document.createRange()
      range.setStart(node, at)
      range.setEnd(node, at + needle.length)
      ranges.push(range)
      at = text.indexOf(needle, at + needle.length)
    }
  }
  return ranges
}

/** The first place under `root` that shows the query, if its text holds it as typed. */
export function firstMatch(root: Node, query: string): Range | undefined {
  return matchRanges(root, query, 1)[0]
}

export function useSearchHighlight(options: {
  root: Ref<HTMLElement | null>
  query: Ref<string>
}): void {
  if (typeof CSS === 'undefined' || !('highlights' in CSS)) return
  let frame = 0
  const observer = new MutationObserver(schedule)

  function apply(): void {
    frame = 0
    const root = options.root.value
    const ranges = root ? matchRanges(root, options.query.value, MAX_MARKS) : []
    if (ranges.length > 0) CSS.highlights.set(HIGHLIGHT, new Highlight(...ranges))
    else CSS.highlights.delete(HIGHLIGHT)
  }

  function schedule(): void {
    frame ||= requestAnimationFrame(apply)
  }

  watch(
    [options.root, options.query],
    ([root, query]) => {
      observer.disconnect()
      if (root && query.trim()) {
        observer.observe(root, { subtree: true, childList: true, characterData: true })
      }
      schedule()
    },
    { flush: 'post', immediate: true },
  )
  onScopeDispose(() => {
    observer.disconnect()
    cancelAnimationFrame(frame)
    CSS.highlights.delete(HIGHLIGHT)
  })
}
