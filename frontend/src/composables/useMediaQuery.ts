// A reactive CSS media query, e.g. whether the screen is phone-narrow.
import { onScopeDispose, ref, type Ref } from 'vue'

export function useMediaQuery(options: { query: string }): Ref<boolean> {
  const media = window.matchMedia(options.query)
  const matches = ref(media.matches)
  const onChange = (event: MediaQueryListEvent) => (matches.value = event.matches)
  media.addEventListener('change', onChange)
  onScopeDispose(() => media.removeEventListener('change', onChange))
  return matches
}
