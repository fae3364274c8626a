// A conversation's default title: the start of its first user message, on one line.
const MAX_TITLE_CHARS = 48

export function titleFromMessage(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim()
  const characters = Array.from(line)
  if (characters.length <= MAX_TITLE_CHARS) return line
  return `${characters
    .slice(0, MAX_TITLE_CHARS - 1)
    .join('')
    .trimEnd()}…`
}
