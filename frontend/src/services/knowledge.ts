// The knowledge API (OpenAI Files and Vector Stores): upload a document with progress, manage
// collections, attach a file to one and follow its indexing. Knows nothing about Vue.
import type {
  FileObject,
  VectorStore,
  VectorStoreFile,
  VectorStoreFileList,
  VectorStoreList,
} from '../types/api'
import { ApiError, apiFetch, errorFromResponse, isAbortError } from './http'

interface CallOptions {
  apiKey?: string | null
  signal?: AbortSignal
}

/** The server asks for a poll every 250 ms (`openai-poll-after-ms`); a browser needs no more. */
const POLL_INTERVAL_MS = 500
const STORES = 'v1/vector_stores'
const id = encodeURIComponent

async function json<T>(path: string, options: CallOptions & { body?: unknown } = {}): Promise<T> {
  return (await (await apiFetch(path, options)).json()) as T
}

async function remove(path: string, options: CallOptions): Promise<void> {
  await apiFetch(path, { ...options, method: 'DELETE' })
}

/**
 * Upload one file (multipart, as the OpenAI client does). XMLHttpRequest, because fetch reports
 * no upload progress; `onProgress` gets the fraction sent, 0 to 1.
 */
export function uploadFile(
  file: File,
  options: CallOptions & { onProgress?: (fraction: number) => void } = {},
): Promise<FileObject> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest()
    request.open('POST', 'v1/files')
    if (options.apiKey) request.setRequestHeader('Authorization', `Bearer ${options.apiKey}`)
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) {
        options.onProgress?.(event.loaded / event.total)
      }
    }
    request.onload = () => {
      const response = new Response(request.responseText, {
        status: request.status,
        headers: { 'Retry-After': request.getResponseHeader('Retry-After') ?? '' },
      })
      if (response.ok) void response.json().then(resolve, reject)
      else void errorFromResponse(response).then(reject, reject)
    }
    request.onerror = () => reject(new ApiError('network', 'the upload failed'))
    request.onabort = () => reject(new DOMException('The upload was stopped.', 'AbortError'))
    options.signal?.addEventListener('abort', () => request.abort(), { once: true })
    const form = new FormData()
    form.append('file', file, file.name)
    form.append('purpose', 'assistants')
    request.send(form)
  })
}

export const deleteFile = (fileId: string, options: CallOptions = {}) =>
  remove(`v1/files/${id(fileId)}`, options)

export async function listStores(options: CallOptions = {}): Promise<VectorStore[]> {
  return (await json<VectorStoreList>(STORES, options)).data
}

export function createStore(
  name: string,
  metadata: Record<string, string> = {},
  options: CallOptions = {},
): Promise<VectorStore> {
  return json<VectorStore>(STORES, { ...options, body: { name, metadata } })
}

export function renameStore(
  storeId: string,
  name: string,
  options: CallOptions = {},
): Promise<VectorStore> {
  return json<VectorStore>(`${STORES}/${id(storeId)}`, { ...options, body: { name } })
}

export const deleteStore = (storeId: string, options: CallOptions = {}) =>
  remove(`${STORES}/${id(storeId)}`, options)

export async function listStoreFiles(
  storeId: string,
  options: CallOptions = {},
): Promise<VectorStoreFile[]> {
  return (await json<VectorStoreFileList>(`${STORES}/${id(storeId)}/files`, options)).data
}

/** Start indexing a file into a collection; answers at once with status `in_progress`. */
export function attachFile(
  storeId: string,
  fileId: string,
  options: CallOptions = {},
): Promise<VectorStoreFile> {
  return json<VectorStoreFile>(`${STORES}/${id(storeId)}/files`, {
    ...options,
    body: { file_id: fileId },
  })
}

export function getStoreFile(
  storeId: string,
  fileId: string,
  options: CallOptions = {},
): Promise<VectorStoreFile> {
  return json<VectorStoreFile>(`${STORES}/${id(storeId)}/files/${id(fileId)}`, options)
}

export const detachFile = (storeId: string, fileId: string, options: CallOptions = {}) =>
  remove(`${STORES}/${id(storeId)}/files/${id(fileId)}`, options)

/** Poll a file until indexing ends (completed, failed or cancelled), reporting each answer. */
export async function waitForIndexing(
  storeId: string,
  fileId: string,
  options: CallOptions & { onUpdate?: (file: VectorStoreFile) => void; intervalMs?: number } = {},
): Promise<VectorStoreFile> {
  for (;;) {
    const file = await getStoreFile(storeId, fileId, options)
    options.onUpdate?.(file)
    if (file.status !== 'in_progress') return file
    await sleep(options.intervalMs ?? POLL_INTERVAL_MS, options.signal)
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        reject(new DOMException('Stopped.', 'AbortError'))
      },
      { once: true },
    )
  })
}

/** Where one document is on its way from the disk to being searchable. */
export interface IndexingState {
  phase: 'uploading' | 'indexing' | 'ready' | 'failed'
  /** 0 to 1 while uploading. */
  uploaded: number
  chunksDone: number
  chunksTotal: number
  fileId?: string
  /** The server's reason (too large, no text layer, unknown type), shown as plain text. */
  error?: string
}

/** Upload, attach and wait: the whole way of one file into a collection, step by step. */
export async function uploadAndIndex(
  storeId: string,
  file: File,
  options: CallOptions & { onUpdate: (state: IndexingState) => void; intervalMs?: number },
): Promise<IndexingState> {
  const state: IndexingState = { phase: 'uploading', uploaded: 0, chunksDone: 0, chunksTotal: 0 }
  const report = () => options.onUpdate({ ...state })
  report()
  try {
    const uploaded = await uploadFile(file, {
      ...options,
      onProgress: (fraction) => {
        state.uploaded = fraction
        report()
      },
    })
    Object.assign(state, { phase: 'indexing', uploaded: 1, fileId: uploaded.id })
    report()
    await attachFile(storeId, uploaded.id, options)
    const final = await waitForIndexing(storeId, uploaded.id, {
      ...options,
      onUpdate: (indexed) => {
        Object.assign(state, indexingState(indexed))
        report()
      },
    })
    Object.assign(state, indexingState(final))
  } catch (error) {
    // Stopped, or a key to ask for (the caller retries): not the document's fault.
    if (isAbortError(error)) throw error
    if (error instanceof ApiError && error.failure === 'unauthorized') throw error
    state.phase = 'failed'
    state.error = error instanceof Error ? error.message : String(error)
  }
  report()
  return { ...state }
}

/** The state a file the server lists is in. */
export function indexingState(file: VectorStoreFile): IndexingState {
  const failed = file.status === 'failed' || file.status === 'cancelled'
  return {
    phase: file.status === 'completed' ? 'ready' : failed ? 'failed' : 'indexing',
    uploaded: 1,
    chunksDone: file.progress?.chunks_done ?? 0,
    chunksTotal: file.progress?.chunks_total ?? 0,
    fileId: file.id,
    ...(failed ? { error: file.last_error?.message ?? file.status } : {}),
  }
}
