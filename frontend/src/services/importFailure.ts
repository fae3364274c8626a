// Why a conversation file was refused, apart from the parser (conversationImport.ts) and its
// schema library, which load only when a file is imported: the page that never imports one
// never downloads them.

export const MAX_IMPORT_BYTES = 5 * 1024 * 1024

export type ImportFailure = 'too-large' | 'not-json' | 'invalid'

export class ImportError extends Error {
  readonly failure: ImportFailure
  /** Where the file is wrong (`conversation.messages.3.role`), for the message to the user. */
  readonly path: string | undefined

  constructor(failure: ImportFailure, message: string, path?: string) {
    super(message)
    this.name = 'ImportError'
    this.failure = failure
    this.path = path
  }
}
