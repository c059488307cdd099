/**
 * Row counts given by the user (a cursor's `prefetch`, `fetch(n)`,
 * `forward(n)`, `backward(n)`): checked before anything is sent. Execute
 * carries its row limit as a signed 32-bit integer, and FETCH/MOVE take a
 * 32-bit count too, so a count must be an integer from 1 to 2^31 - 1; a
 * larger one would throw while the message is being written (and the
 * connection would be lost) or be a syntax error on the server (and abort
 * the transaction).
 *
 * Internal: not exported by the package.
 */
import { InterfaceError } from "../errors/client.js"

/** The largest row count the protocol and FETCH/MOVE accept: 2^31 - 1. */
export const MAX_ROW_COUNT = 0x7fffffff

/**
 * The InterfaceError for a row count `n` of `what` that is not an integer
 * from 1 to {@link MAX_ROW_COUNT}; undefined when `n` is one.
 */
export const invalidRowCount = (what: string, n: unknown): InterfaceError | undefined =>
  typeof n === "number" && Number.isInteger(n) && n > 0 && n <= MAX_ROW_COUNT
    ? undefined
    : new InterfaceError({
      message: `${what}: expected an integer row count from 1 to ${MAX_ROW_COUNT}, got ${String(n)}`
    })
