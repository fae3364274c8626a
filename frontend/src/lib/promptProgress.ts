// How far the server has read a reply's prompt, from its `prefill` (or `summarizing`) status
// frames, and the line shown with the bar: "Reading 1,240 / 2,000 tokens · about 4 s left".
import { formatCount, formatDuration, translate, type Locale } from '../i18n'
import type { QueueStatus } from '../types/api'

export interface PromptProgress {
  done: number
  total: number
  /** Taken from a kept KV cache instead of being read again. */
  restored: number
  /** Null until the server has timed a prompt. */
  etaMs: number | null
}

/** The progress in a status frame; null for a frame without it (queued, generating). */
export function promptProgress(status: QueueStatus | null | undefined): PromptProgress | null {
  if (status?.state !== 'prefill' && status?.state !== 'summarizing') return null
  const { prompt_tokens_done: done, prompt_tokens_total: total } = status
  if (done == null || total == null || total <= 0) return null
  return {
    done: Math.min(done, total),
    total,
    restored: status.prompt_tokens_restored ?? 0,
    etaMs: status.eta_ms ?? null,
  }
}

export function promptProgressText(locale: Locale, progress: PromptProgress): string {
  const { done, total, restored, etaMs } = progress
  const count = (value: number) => formatCount(locale, value)
  const parts: string[] = []
  if (restored > 0) {
    parts.push(translate(locale, 'promptRestored', { n: restored, count: count(restored) }))
    if (done < total) {
      parts.push(translate(locale, 'promptReadingMore', { count: count(total - done) }))
    }
  } else {
    parts.push(translate(locale, 'promptReading', { done: count(done), total: count(total) }))
  }
  if (etaMs !== null && etaMs > 0 && done < total) {
    const duration = formatDuration(locale, Math.ceil(etaMs / 1000))
    parts.push(translate(locale, 'timeLeft', { duration }))
  }
  return parts.join(' · ')
}
