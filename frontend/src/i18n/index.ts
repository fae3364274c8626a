// UI language: a typed dictionary per locale, chosen from navigator.language (zh* → zh-CN),
// switchable and remembered; `<html lang>` follows it.
import { usePreference } from '../composables/usePreference'
import { en, type MessageKey } from './en'
import { zhCN } from './zh-CN'

export type Locale = 'en' | 'zh-CN'
export const LOCALES: { value: Locale; label: string }[] = [
  { value: 'en', label: 'English' },
  { value: 'zh-CN', label: '简体中文' },
]

const dictionaries: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zhCN }

export function detectLocale(languages: readonly string[]): Locale {
  for (const language of languages) {
    const lower = language.toLowerCase()
    if (lower.startsWith('zh')) return 'zh-CN'
    if (lower.startsWith('en')) return 'en'
  }
  return 'en'
}

const isLocale = (value: unknown): value is Locale => value === 'en' || value === 'zh-CN'

const locale = usePreference<Locale>({
  name: 'locale',
  read: (value) => (isLocale(value) ? value : null),
  fallback: detectLocale(
    typeof navigator === 'undefined' ? [] : (navigator.languages ?? [navigator.language]),
  ),
})

export function setLocale(next: Locale): void {
  locale.value = next
  applyDocumentLanguage()
}

export function applyDocumentLanguage(): void {
  document.documentElement.lang = locale.value
}

export function translate(
  target: Locale,
  key: MessageKey,
  params: Record<string, string | number> = {},
): string {
  let text = dictionaries[target][key]
  if (text.includes('|') && typeof params.n === 'number') {
    const [one, other] = text.split('|')
    text = (params.n === 1 ? one : other) ?? text
  }
  return text.replace(/\{(\w+)\}/g, (match, name: string) =>
    name in params ? String(params[name]) : match,
  )
}

/** A count as the locale writes it: "1,240" (grouped in both languages). */
export function formatCount(target: Locale, value: number): string {
  return new Intl.NumberFormat(target, { maximumFractionDigits: 0 }).format(value)
}

/** Whole seconds as "12 s", "2 min", "1 min 5 s" (or "12 秒", "1 分 5 秒"). */
export function formatDuration(target: Locale, seconds: number): string {
  const whole = Math.max(0, Math.round(seconds))
  if (whole < 60) return translate(target, 'durationSeconds', { s: whole })
  const m = Math.floor(whole / 60)
  const s = whole % 60
  return s === 0
    ? translate(target, 'durationMinutes', { m })
    : translate(target, 'durationMinutesSeconds', { m, s })
}

export function useI18n() {
  return {
    locale,
    t: (key: MessageKey, params?: Record<string, string | number>) =>
      translate(locale.value, key, params),
    count: (value: number) => formatCount(locale.value, value),
    duration: (seconds: number) => formatDuration(locale.value, seconds),
  }
}
