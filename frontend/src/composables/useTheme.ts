// Applies the chosen theme to <html data-theme> (VueUse's colour mode), following
// prefers-color-scheme while the choice is "system"; base.css sets colours and color-scheme from it.
import { useColorMode } from '@vueuse/core'
import { computed, type Ref } from 'vue'
import type { Theme } from '../stores/settings'

export function useTheme(options: { theme: Ref<Theme> }): void {
  useColorMode({
    attribute: 'data-theme',
    // The settings store remembers the choice; VueUse calls "system" "auto".
    storageRef: computed(() => (options.theme.value === 'system' ? 'auto' : options.theme.value)),
    // No colour is animated, so there is nothing for its injected transition-blocking <style> to do.
    disableTransition: false,
  })
}
