// Random ids for conversations and messages. crypto.randomUUID exists only in secure contexts,
// and pocketchat is often opened over plain http on an intranet address; getRandomValues is not
// restricted that way.
export function createId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
}
