// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { VectorStoreFile } from '../../types/api'
import { ApiError } from '../http'
import { indexingState, uploadAndIndex, uploadFile, waitForIndexing } from '../knowledge'
import { stubFetch } from './streams'

const storeFile = (patch: Partial<VectorStoreFile>): VectorStoreFile => ({
  id: 'file-1',
  object: 'vector_store.file',
  usage_bytes: 10,
  created_at: 0,
  vector_store_id: 'vs-1',
  status: 'in_progress',
  last_error: null,
  filename: 'report.pdf',
  progress: { chunks_done: 0, chunks_total: 0 },
  ...patch,
})

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

/** An XMLHttpRequest that reports upload progress and answers with `status` and `body`. */
function stubUpload(status: number, body: unknown) {
  const sent: FormData[] = []
  class FakeRequest {
    upload: { onprogress: ((event: ProgressEvent) => void) | null } = { onprogress: null }
    status = 0
    responseText = ''
    onload: (() => void) | null = null
    onerror: (() => void) | null = null
    onabort: (() => void) | null = null
    open(): void {}
    setRequestHeader(): void {}
    getResponseHeader(): string | null {
      return null
    }
    abort(): void {}
    send(form: FormData): void {
      sent.push(form)
      this.upload.onprogress?.({ lengthComputable: true, loaded: 5, total: 10 } as ProgressEvent)
      this.status = status
      this.responseText = JSON.stringify(body)
      queueMicrotask(() => this.onload?.())
    }
  }
  vi.stubGlobal('XMLHttpRequest', FakeRequest)
  return sent
}

afterEach(() => vi.unstubAllGlobals())

describe('knowledge service', () => {
  it('uploads multipart with progress, and refuses with the server’s reason', async () => {
    const sent = stubUpload(200, { id: 'file-1', filename: 'a.md' })
    const progress: number[] = []
    const file = new File(['# A'], 'a.md')
    await expect(uploadFile(file, { onProgress: (f) => progress.push(f) })).resolves.toMatchObject({
      id: 'file-1',
    })
    expect(progress).toEqual([0.5])
    expect(sent[0]?.get('purpose')).toBe('assistants')
    expect((sent[0]?.get('file') as File).name).toBe('a.md')

    stubUpload(400, { error: { message: 'empty.txt is empty', type: 'invalid_request_error' } })
    const refusal = uploadFile(new File([], 'empty.txt'))
    await expect(refusal).rejects.toBeInstanceOf(ApiError)
    await expect(refusal).rejects.toThrow('empty.txt is empty')
  })

  it('polls a file until indexing ends, reporting its progress', async () => {
    const answers = [
      storeFile({ progress: { chunks_done: 1, chunks_total: 4 } }),
      storeFile({ progress: { chunks_done: 3, chunks_total: 4 } }),
      storeFile({ status: 'completed', progress: { chunks_done: 4, chunks_total: 4 } }),
    ]
    const fetchMock = stubFetch(() => json(answers.shift()))
    const seen: number[] = []
    const final = await waitForIndexing('vs-1', 'file-1', {
      intervalMs: 1,
      onUpdate: (file) => seen.push(file.progress.chunks_done),
    })
    expect(final.status).toBe('completed')
    expect(seen).toEqual([1, 3, 4])
    expect(String(fetchMock.mock.calls[0]?.[0])).toBe('v1/vector_stores/vs-1/files/file-1')
  })

  it('maps a listed file to a chip state, with the reason of a failure', () => {
    expect(indexingState(storeFile({ status: 'completed' })).phase).toBe('ready')
    expect(
      indexingState(
        storeFile({
          status: 'failed',
          last_error: { code: 'invalid_file', message: 'scan.pdf has no text layer' },
        }),
      ),
    ).toMatchObject({ phase: 'failed', error: 'scan.pdf has no text layer' })
  })

  it('walks a file from upload to ready, and a refused one to failed with its reason', async () => {
    stubUpload(200, { id: 'file-1' })
    const answers = [json(storeFile({})), json(storeFile({ status: 'completed' }))]
    stubFetch(() => answers.shift() as Response)
    const phases: string[] = []
    const done = await uploadAndIndex('vs-1', new File(['x'], 'a.md'), {
      intervalMs: 1,
      onUpdate: (state) => phases.push(state.phase),
    })
    expect(done).toMatchObject({ phase: 'ready', fileId: 'file-1' })
    expect(phases[0]).toBe('uploading')
    expect(phases).toContain('indexing')

    stubUpload(400, { error: { message: 'unsupported file type .exe' } })
    const refused = await uploadAndIndex('vs-1', new File(['MZ'], 'a.exe'), {
      onUpdate: () => undefined,
    })
    expect(refused).toMatchObject({ phase: 'failed', error: 'unsupported file type .exe' })
  })
})
