// Requests to the pocketchat server: relative URLs (same origin as the page), the Bearer key,
// and one error type that says what went wrong in terms the UI can act on.
import type { ApiErrorBody } from '../types/api'

export type ApiFailure = 'network' | 'unauthorized' | 'busy' | 'loading' | 'http'

export class ApiError extends Error {
  readonly failure: ApiFailure
  readonly status: number | null
  readonly retryAfterSeconds: number | undefined
  readonly code: string | undefined

  constructor(
    failure: ApiFailure,
    message: string,
    options: { status?: number; retryAfterSeconds?: number; code?: string } = {},
  ) {
    super(message)
    this.name = 'ApiError'
    this.failure = failure
    this.status = options.status ?? null
    this.retryAfterSeconds = options.retryAfterSeconds
    this.code = options.code
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError'
}

export interface RequestOptions {
  apiKey?: string | null
  signal?: AbortSignal
  method?: 'GET' | 'POST' | 'DELETE'
  body?: unknown
}

/** `fetch` that turns every non-2xx answer and every network failure into an ApiError. */
export async function apiFetch(path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {}
  if (options.apiKey) headers.Authorization = `Bearer ${options.apiKey}`
  if (options.body !== undefined) headers['Content-Type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(path, {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      cache: 'no-store',
    })
  } catch (error) {
    if (isAbortError(error)) throw error
    throw new ApiError('network', error instanceof Error ? error.message : String(error))
  }
  if (!response.ok) throw await errorFromResponse(response)
  return response
}

const FAILURE_BY_STATUS: Partial<Record<number, ApiFailure>> = {
  401: 'unauthorized',
  429: 'busy',
  503: 'loading',
}

/** The ApiError for a non-2xx answer, with the server's reason when it sent one. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: ApiErrorBody | undefined
  try {
    const json: unknown = await response.json()
    const error = (json as { error?: unknown } | null)?.error
    if (error && typeof error === 'object' && typeof (error as ApiErrorBody).message === 'string') {
      body = error as ApiErrorBody
    }
  } catch {
    // Not JSON (a proxy's HTML error page, say): the status alone has to do.
  }
  const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10)
  const options = {
    status: response.status,
    retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
    code: body?.code ?? undefined,
  }
  const message = body?.message ?? `HTTP ${response.status} ${response.statusText}`.trim()
  const failure = FAILURE_BY_STATUS[response.status] ?? 'http'
  return new ApiError(failure, message, options)
}
