// Collects streamed text and hands it on at most once per animation frame: a fast model sends
// hundreds of deltas a second, and re-rendering Markdown for each would stall the page.

export interface FrameBatcher {
  push: (text: string) => void
  /** Hand on whatever is pending now (the stream ended or was stopped). */
  flush: () => void
  cancel: () => void
}

export function createFrameBatcher(options: { onFlush: (text: string) => void }): FrameBatcher {
  let pending = ''
  let frame: number | null = null

  function flush(): void {
    if (frame !== null) cancelAnimationFrame(frame)
    frame = null
    if (pending === '') return
    const text = pending
    pending = ''
    options.onFlush(text)
  }

  return {
    push(text) {
      pending += text
      frame ??= requestAnimationFrame(flush)
    },
    flush,
    cancel() {
      if (frame !== null) cancelAnimationFrame(frame)
      frame = null
      pending = ''
    },
  }
}
