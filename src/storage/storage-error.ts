/**
 * Boundary failures of the storage adapter (STYLE.md habit 4): an Error subclass with a literal
 * `code` so the server maps them without sniffing messages. Every message names the data
 * directory, says what is wrong and what the operator can do, because these surface at startup
 * in front of a human.
 */
export type StorageErrorCode =
  /** The directory holds data of another format (or is not an Arbor LevelDB directory at all). */
  | 'formatMismatch'
  /** LevelDB reported corruption, a record failed its checksum, or required meta is missing. */
  | 'corrupt'
  /** Another process (or another store in this process) holds the LevelDB lock. */
  | 'locked'
  /** An I/O failure; after one, the store refuses further writes (see ArborStore.fail). */
  | 'io'
  /** Snapshot chunks that fail validation: they arrive over the network, so this is expected. */
  | 'badSnapshot'
  /** The store was used after close(). */
  | 'closed';

export class StorageError extends Error {
  override readonly name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isStorageError = (e: unknown): e is StorageError => e instanceof StorageError;
