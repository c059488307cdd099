/**
 * Rows: the one decoder of a DataRow body into values with a statement's
 * codecs, and the result of one Execute.
 *
 * Internal: not exported by the package.
 */
import * as Errors from "../Errors.js"
import type { Codec } from "../types/Codec.js"

/** The result of one Execute: its rows and command tag. */
export interface ExecuteResult {
  readonly rows: Array<unknown>
  readonly status: string
}

/**
 * Decodes one DataRow body into its values with the statement's codecs.
 * On a decoder failure it returns a DataError naming the row and column.
 */
export const decodeRow = (
  buf: Buffer,
  start: number,
  codecs: ReadonlyArray<Codec>,
  names: ReadonlyArray<{ readonly name: string }>,
  rowIndex: number
): Array<unknown> | Errors.DataError => {
  const n = buf.readUInt16BE(start)
  const values = new Array<unknown>(n)
  let at = start + 2
  let i = 0
  try {
    for (; i < n; i++) {
      const len = buf.readInt32BE(at)
      at += 4
      if (len < 0) values[i] = null
      else {
        values[i] = codecs[i]!.decode(buf, at, at + len)
        at += len
      }
    }
  } catch (e) {
    const column = names[i]?.name ?? String(i)
    return new Errors.DataError({
      message: `could not decode row ${rowIndex}, column "${column}" (type ${codecs[i]?.name ?? "?"}): ${e instanceof Error ? e.message : String(e)}`,
      row: rowIndex,
      column
    })
  }
  return values
}
