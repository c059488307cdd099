/**
 * The hostile-input table: every row ends with a typed error (its `_tag`
 * asserted) or a correct value; after each row the connection still answers
 * `SELECT 1` and a row that tried to write left the table as it was. The rows
 * live in ./support/rows-*.ts; test/faults/README.md lists them.
 */
import { describe, expect, it } from "@effect/vitest"
import { runRows } from "./support/hostile.js"
import { SQL_ROWS } from "./support/rows-sql.js"
import { VALUE_ROWS } from "./support/rows-values.js"
import { uniqueName } from "../support/db.js"

describe("hostile inputs", () => {
  it("the table has at least 60 rows, with unique names", () => {
    const names = [...VALUE_ROWS, ...SQL_ROWS].map((r) => r.name)
    expect(names.length).toBeGreaterThanOrEqual(60)
    expect(new Set(names).size).toBe(names.length)
  })

  it.live("argument types, sizes and values", () => runRows(VALUE_ROWS, uniqueName("hostile_v")), { timeout: 60_000 })

  it.live("SQL text, identifiers, COPY, codecs, DSNs and options", () => runRows(SQL_ROWS, uniqueName("hostile_s")), { timeout: 60_000 })
})
