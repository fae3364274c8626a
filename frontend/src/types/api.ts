// The wire shapes the web app uses, named. They are the server's pydantic models, generated into
// openapi.ts from its /openapi.json (`make api-types`), so they cannot drift from the server.
import type { components } from './openapi'

type Schemas = components['schemas']

export type ChatCompletionRequest = Schemas['ChatCompletionRequest']
export type ContextOverflow = NonNullable<ChatCompletionRequest['context_overflow']>
export type ContextSummary = Schemas['ContextSummary']

export type ChatCompletionChunk = Schemas['ChatCompletionChunk']
/** A `data:` frame other than `[DONE]`: a chunk, or the error that ends a stream that began. */
export type StreamFrame = ChatCompletionChunk | Schemas['StreamError']
export type StreamErrorBody = Schemas['StreamError']['error']
export type QueueStatus = NonNullable<ChatCompletionChunk['status']>
export type FinishReason = NonNullable<ChatCompletionChunk['choices'][number]['finish_reason']>
export type Usage = Schemas['Usage']
export type Timings = Schemas['Timings']
export type ContextReport = Schemas['ContextReport']

/** The `error` object of every HTTP error answer. */
export type ApiErrorBody = Schemas['Error']['error']

/** GET /api/info; while the model loads (or after it failed to) `model` is null. */
export type ServerInfo = Schemas['ServerInfo']

/** A passage of the user's documents given to a reply, cited in its text as [index]. */
export type Source = Schemas['Source']
export type KnowledgeOptions = Schemas['KnowledgeOptions']
/** An uploaded file (`/v1/files`). */
export type FileObject = Schemas['FileObject']
/** A collection of documents (`/v1/vector_stores`). */
export type VectorStore = Schemas['VectorStore']
/** A document in a collection, with its indexing status and progress. */
export type VectorStoreFile = Schemas['VectorStoreFile']
export type VectorStoreFileList = Schemas['VectorStoreFileList']
export type VectorStoreList = Schemas['VectorStoreList']
