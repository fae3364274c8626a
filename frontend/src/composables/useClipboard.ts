// Copy text, also on plain-http intranet addresses where navigator.clipboard does not exist
// (it needs a secure context): fall back to a hidden textarea and execCommand('copy').
import { onScopeDispose, ref, type Ref } from 'vue'

export function useClipboard(options: { resetAfterMs?: number } = {}): {
  copiedKey: Ref<string | null>
  copy: (text: string, key?: string) => Promise<boolean>
} {
  const copiedKey = ref<string | null>(null)
  let timer: ReturnType<typeof setTimeout> | undefined

  async function copy(text: string, key = 'default'): Promise<boolean> {
    const ok = await writeText(text)
    if (ok) {
      copiedKey.value = key
      clearTimeout(timer)
      timer = setTimeout(() => (copiedKey.value = null), options.resetAfterMs ?? 1500)
    }
    return ok
  }

  onScopeDispose(() => clearTimeout(timer))
  return { copiedKey, copy }
}

async function writeText(text: string): Promise<boolean> {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text)
      return true
    } catch {
      // Permission refused: the fallback below may still work.
    }
  }
  const textarea = document.createElement('textarea')
  textarea.value = text
  textarea.setAttribute('readonly', '')
  textarea.style.position = 'fixed'
  textarea.style.opacity = '0'
  document.body.appendChild(textarea)
  textarea.select()
  try {
    return document.execCommand('copy')
  } catch {
    return false
  } finally {
    textarea.remove()
  }
}
