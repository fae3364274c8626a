// Sanitized HTML for a message that may still be streaming. While it streams, rendering is
// incremental (streamingMarkdown.ts) and paced by its own cost, so that a long reply on a slow
// machine still leaves the page time to scroll and to take a click on Stop. The first formula
// starts loading KaTeX; once it has loaded, the message is rendered again.
import { onScopeDispose, ref, watch, type Ref } from 'vue'
import { renderMarkdown } from '../services/markdown'
import { mathLoading } from '../services/mathRenderer'
import { createStreamingRenderer } from '../services/streamingMarkdown'

export function useRenderedMarkdown(options: {
  source: Ref<string>
  streaming: Ref<boolean>
  copyLabel: Ref<string>
  /** How many sources the reply cites ([1]…[n] become buttons); 0 for none. */
  citations?: Ref<number>
}): Ref<string> {
  const html = ref('')
  let renderer = createStreamingRenderer()
  let timer: ReturnType<typeof setTimeout> | undefined
  let lastCostMs = 0
  let lastRenderAt = 0
  let waitingForMath = false
  let disposed = false
  const citations = () => options.citations?.value ?? 0

  function render(): void {
    timer = undefined
    const started = performance.now()
    html.value = options.streaming.value
      ? renderer.render(options.source.value, options.copyLabel.value, citations())
      : renderMarkdown(options.source.value, {
          copyLabel: options.copyLabel.value,
          citations: citations(),
        })
    lastRenderAt = performance.now()
    lastCostMs = lastRenderAt - started
    const loading = mathLoading()
    if (loading && !waitingForMath) {
      waitingForMath = true
      // A failed load leaves the TeX as it was written: nothing to render again.
      loading.then(
        () => disposed || render(),
        () => undefined,
      )
    }
  }

  watch(
    [options.source, options.streaming, options.copyLabel, citations],
    () => {
      if (!options.streaming.value) {
        clearTimeout(timer)
        renderer = createStreamingRenderer()
        render()
        return
      }
      // Rendering may take at most about a third of the time: wait twice its last cost.
      const wait = lastRenderAt + 2 * lastCostMs - performance.now()
      if (wait <= 0) render()
      else timer ??= setTimeout(render, wait)
    },
    { immediate: true },
  )
  onScopeDispose(() => {
    disposed = true
    clearTimeout(timer)
  })
  return html
}
