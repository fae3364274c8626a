// The title of a reply's folded thinking once it is over, on the page and in a Markdown export.
import { formatDuration, translate, type Locale } from '../i18n'

/** "Thought for 12 s"; "Thoughts" when the time is unknown (a reply stored mid-thought). */
export function thoughtLabel(locale: Locale, durationMs: number | undefined): string {
  if (durationMs === undefined) return translate(locale, 'thoughts')
  // Under half a second still took a moment: "1 s", not "0 s".
  const seconds = Math.max(1, Math.round(durationMs / 1000))
  return translate(locale, 'thoughtFor', { duration: formatDuration(locale, seconds) })
}
