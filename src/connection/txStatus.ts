/**
 * The transaction status byte of ReadyForQuery, as the session keeps it
 * (`Session.txStatus`).
 *
 * Internal: not exported by the package.
 */

/** `I`: not in a transaction block. */
export const IDLE = 0x49
/** `T`: in a transaction block. */
export const IN_TRANSACTION = 0x54
/** `E`: in a failed transaction block (queries are refused until it ends). */
export const FAILED = 0x45
