// A flag that follows `when` but turns on only once `when` has held for `delayMs`, and off at
// once: what a wait that ends at once would show is never drawn, so a fast reply does not
// flicker.
import { onScopeDispose, readonly, ref, watch, type Ref } from 'vue'

export function useShownAfter(options: {
  when: Ref<boolean>
  delayMs: number
}): Readonly<Ref<boolean>> {
  const shown = ref(false)
  let timer: ReturnType<typeof setTimeout> | undefined
  watch(
    options.when,
    (on) => {
      clearTimeout(timer)
      if (!on) {
        shown.value = false
        return
      }
      timer = setTimeout(() => (shown.value = true), options.delayMs)
    },
    { immediate: true },
  )
  onScopeDispose(() => clearTimeout(timer))
  return readonly(shown)
}
