// Applies the chosen theme to <html data-theme>, following prefers-color-scheme while the
// choice is "system".
import { computed, watchEffect, type ComputedRef, type Ref } from 'vue'
import type { Theme } from '../stores/settings'
import { useMediaQuery } from './useMediaQuery'

export function useTheme(options: { theme: Ref<Theme> }): {
  resolved: ComputedRef<'light' | 'dark'>
} {
  const systemDark = useMediaQuery({ query: '(prefers-color-scheme: dark)' })
  const resolved = computed(() => {
    const theme = options.theme.value
    return theme === 'system' ? (systemDark.value ? 'dark' : 'light') : theme
  })
  watchEffect(() => {
    document.documentElement.dataset.theme = resolved.value
    document.documentElement.style.colorScheme = resolved.value
  })
  return { resolved }
}
