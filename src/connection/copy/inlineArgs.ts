/**
 * The arguments of `copyFromQuery` as SQL literals: `COPY (query)` takes no
 * parameters.
 *
 * Internal: not exported by the package.
 */
import * as Effect from "effect/Effect"
import * as Raw from "../../protocol/buffer.js"
import * as Portal from "../portal.js"
import type { ColumnDecoder } from "../rows.js"
import type { CopyHost } from "./host.js"
import type { CopyError } from "./options.js"
import * as Sql from "./sql.js"

/** A text column as the server sent it (the literals and type names are text). */
const TEXT: ColumnDecoder = { name: "text", decode: (buf, start, end) => Raw.utf8Slice(buf, start, end) }

/**
 * COPY (query) takes no parameters, so `args` are inlined as literals, like
 * asyncpg: the query is prepared to learn its parameter types, the server
 * turns each argument (bound with its type's codec) into a quoted literal
 * (`quote_nullable($n::text)`) and its type name (`format_type`), and each
 * `$n` outside strings, quoted names and comments becomes
 * `('literal'::type)`. The literals are the server's own output, so no
 * value can break out of its quotes.
 */
export const inlineArgs = (host: CopyHost, query: string, args: ReadonlyArray<unknown>): Effect.Effect<string, CopyError> =>
  Effect.callback<string, CopyError>((resume) => {
    const bad = host.guard()
    if (bad !== undefined) {
      resume(Effect.fail(bad))
      return
    }
    const session = host.session
    session.statement(
      query,
      (err, st) => {
        if (err !== undefined || st === undefined) {
          resume(Effect.fail(err!))
          return
        }
        session.evict(st)
        const values = session.encodeArgs(st, args)
        if (!Array.isArray(values)) {
          resume(Effect.fail(values))
          return
        }
        const oids = st.paramOids
        const cols = oids.map((oid, i) => `quote_nullable($${i + 1}::text), format_type(${oid}, NULL)`).join(", ")
        const select = `SELECT ${cols}`
        // one row of text columns, through the shared row collector
        const shape: Portal.RowShape = { codecs: oids.flatMap(() => [TEXT, TEXT]), make: undefined }
        Portal.parseBindExecute(session, select, oids, st.paramFormats, values, shape, [0], (error, batch) => {
          if (error !== undefined || batch === undefined) {
            resume(Effect.fail(error!))
            return
          }
          const texts = (batch.rows[batch.rows.length - 1] ?? []) as ReadonlyArray<string | null>
          const text = (i: number): string => texts[i] ?? "NULL"
          const replacements = oids.map((_, i) => `(${text(2 * i)}::${text(2 * i + 1)})`)
          const scsOff = session.parameters.get("standard_conforming_strings") === "off"
          resume(Effect.succeed(Sql.replacePlaceholders(query, Sql.findPlaceholders(query, scsOff), replacements)))
        })
      },
      true
    )
  })
