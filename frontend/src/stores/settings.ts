// Generation settings and the theme, remembered in localStorage. Defaults suit a 0.5B model.
import { defineStore } from 'pinia'
import { computed } from 'vue'
import { usePreference } from '../composables/usePreference'
import { useI18n } from '../i18n'
import type { ContextOverflow } from '../types/api'

export type Theme = 'system' | 'light' | 'dark'

export interface GenerationSettings {
  /** null: the default prompt of the current UI language. */
  systemPrompt: string | null
  temperature: number
  topP: number
  maxTokens: number
  contextOverflow: ContextOverflow
}

export const DEFAULT_SETTINGS: GenerationSettings = {
  systemPrompt: null,
  temperature: 0.7,
  topP: 0.9,
  maxTokens: 1024,
  contextOverflow: 'summarize',
}

const inRange = (value: unknown, min: number, max: number): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Keep each stored field that is valid, default the rest: one bad field loses only itself. */
export function mergeSettings(stored: Record<string, unknown>): GenerationSettings {
  const overflow = stored.contextOverflow
  return {
    systemPrompt:
      typeof stored.systemPrompt === 'string' ? stored.systemPrompt : DEFAULT_SETTINGS.systemPrompt,
    temperature: inRange(stored.temperature, 0, 2)
      ? stored.temperature
      : DEFAULT_SETTINGS.temperature,
    topP: inRange(stored.topP, 0, 1) ? stored.topP : DEFAULT_SETTINGS.topP,
    maxTokens:
      inRange(stored.maxTokens, 1, 1_000_000) && Number.isInteger(stored.maxTokens)
        ? stored.maxTokens
        : DEFAULT_SETTINGS.maxTokens,
    contextOverflow:
      overflow === 'summarize' || overflow === 'truncate' || overflow === 'error'
        ? overflow
        : DEFAULT_SETTINGS.contextOverflow,
  }
}

const isTheme = (value: unknown): value is Theme =>
  value === 'system' || value === 'light' || value === 'dark'

export const useSettingsStore = defineStore('settings', () => {
  const { t } = useI18n()
  const generation = usePreference<GenerationSettings>({
    name: 'settings',
    read: (value) => (isObject(value) ? mergeSettings(value) : null),
    fallback: { ...DEFAULT_SETTINGS },
  })
  const theme = usePreference<Theme>({
    name: 'theme',
    read: (value) => (isTheme(value) ? value : null),
    fallback: 'system',
  })

  const effectiveSystemPrompt = computed(
    () => generation.value.systemPrompt ?? t('defaultSystemPrompt'),
  )

  function update(patch: Partial<GenerationSettings>): void {
    generation.value = mergeSettings({ ...generation.value, ...patch })
  }

  function reset(): void {
    generation.value = { ...DEFAULT_SETTINGS }
  }

  return { generation, theme, effectiveSystemPrompt, update, reset }
})
