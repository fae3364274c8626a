// Test helper: IndexedDB writes that fail as they do when the disk is full, through the real idb
// library and fake-indexeddb. Only the object store's write methods are replaced, until restored.
type Write = (this: IDBObjectStore, ...args: unknown[]) => IDBRequest

export function failWrites(name = 'QuotaExceededError'): () => void {
  const store = IDBObjectStore.prototype as unknown as { put: Write; add: Write }
  const { put, add } = store
  const fail: Write = () => {
    throw new DOMException(`${name} in a test`, name)
  }
  store.put = fail
  store.add = fail
  return () => {
    store.put = put
    store.add = add
  }
}
