/**
 * Generates `src/errors/sqlstate.ts` — one tagged error class per SQLSTATE —
 * from PostgreSQL's `errcodes.txt`.
 *
 *   npx tsx scripts/gen-sqlstate.ts [path/to/errcodes.txt] [--out path] [--check]
 *
 * Without a path, the newest `/usr/share/postgresql/<version>/errcodes.txt`
 * is used. `--check` exits with status 1 when the committed file differs.
 *
 * Class names follow asyncpg's exceptions: the condition name in CamelCase,
 * a trailing `exception`/`failure` becomes `Error`, `Error` is appended
 * otherwise; a few names are overridden (see `NAME_OVERRIDES`).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** asyncpg's names that its CamelCase rule would not give, and our clashes. */
const NAME_OVERRIDES: Readonly<Record<string, string>> = {
  // asyncpg's explicit name map
  "08001": "ClientCannotConnectError",
  "08004": "ConnectionRejectionError",
  "08006": "ConnectionFailureError",
  "38002": "ModifyingExternalRoutineSQLDataNotPermittedError",
  "38003": "ProhibitedExternalRoutineSQLStatementAttemptedError",
  "38004": "ReadingExternalRoutineSQLDataNotPermittedError",
  "39004": "NullValueInExternalRoutineNotAllowedError",
  "42000": "SyntaxOrAccessError",
  "XX000": "InternalServerError",
  // asyncpg prefixes "Postgres" where the name is a Python builtin
  "22P01": "PostgresFloatingPointError",
  "42601": "PostgresSyntaxError",
  "58000": "PostgresSystemError",
  "58030": "PostgresIOError",
  // asyncpg's names for these are taken by effect-pg's client errors
  // (PostgresConnectionError, ConnectionDoesNotExistError, DataError)
  "08000": "ConnectionExceptionError",
  "08003": "ServerConnectionDoesNotExistError",
  "22000": "DataExceptionError"
}

/** Extra classes sharing a SQLSTATE, chosen by `fromServerFields` on other fields. */
const EXTRA_CLASSES: Readonly<Record<string, ReadonlyArray<{ readonly name: string; readonly doc: string }>>> = {
  "0A000": [{
    name: "InvalidCachedStatementError",
    doc: "A prepared statement's plan is invalid after a schema or configuration change " +
      "(`feature_not_supported` raised by `RevalidateCachedQuery`, e.g. \"cached plan must not change result type\"); " +
      "re-preparing the statement fixes it."
  }]
}

/** Names that must not be generated: effect-pg's client errors and the union. */
const RESERVED = new Set([
  "PostgresError",
  "UnknownPostgresError",
  "PostgresConnectionError",
  "ConnectionDoesNotExistError",
  "AcquireTimeoutError",
  "CommandTimeoutError",
  "PoolClosedError",
  "InterfaceError",
  "ProtocolError",
  "DataError",
  "ClientError"
])

/** SQLSTATE classes that are not errors: success, warning, no data. */
const SKIPPED_CLASSES = new Set(["00", "01", "02"])

const WORD_MAP: Readonly<Record<string, string>> = { Fdw: "FDW", Io: "IO", Plpgsql: "PLPGSQL", Sql: "SQL" }

interface Condition {
  readonly sqlstate: string
  readonly specName: string
  readonly className: string
  readonly doc?: string
  /** Extra classes are not reached by SQLSTATE lookup. */
  readonly extra: boolean
}

interface Section {
  readonly code: string
  readonly title: string
  readonly typeName: string
  readonly conditions: Array<Condition>
}

const capitalize = (w: string): string => w.length === 0 ? w : w[0]!.toUpperCase() + w.slice(1)

const className = (specName: string, sqlstate: string): string => {
  const override = NAME_OVERRIDES[sqlstate]
  if (override !== undefined) return override
  const parts = specName.split("_").filter((p) => p.length > 0).map(capitalize)
  const last = parts[parts.length - 1]
  if (last === "Exception" || last === "Failure") parts[parts.length - 1] = "Error"
  else if (last !== "Error") parts.push("Error")
  return parts.map((p) => WORD_MAP[p] ?? p).join("")
}

/** "Syntax Error or Access Rule Violation" → "SyntaxErrorOrAccessRuleViolation" */
const sectionTypeName = (title: string): string =>
  title
    .replace(/\(.*?\)/g, " ")
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w.length > 0)
    .map((w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase())
    .join("")

const parse = (text: string): Array<Section> => {
  const sections: Array<Section> = []
  let current: Section | undefined
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line.length === 0 || line.startsWith("#")) continue
    const section = /^Section:\s*Class\s+([0-9A-Z]{2})\s+-\s+(.+)$/.exec(line)
    if (section !== null) {
      const code = section[1]!
      const title = section[2]!.replace(/\s*\(.*\)\s*$/, "").trim()
      current = SKIPPED_CLASSES.has(code)
        ? undefined
        : { code, title, typeName: sectionTypeName(title), conditions: [] }
      if (current !== undefined) sections.push(current)
      continue
    }
    if (line.startsWith("Section:")) throw new Error(`unrecognised section line: ${line}`)
    if (current === undefined) continue
    const parts = line.split(/\s+/)
    // sqlstate, E/W/S, ERRCODE_ macro, spec name (absent for alias macros)
    if (parts.length < 4) continue
    const [sqlstate, kind, , specName] = parts as [string, string, string, string]
    if (!/^[0-9A-Z]{5}$/.test(sqlstate)) throw new Error(`bad SQLSTATE in line: ${line}`)
    if (sqlstate.slice(0, 2) !== current.code) {
      throw new Error(`${sqlstate} is listed under class ${current.code}`)
    }
    if (kind !== "E") continue
    current.conditions.push({ sqlstate, specName, className: className(specName, sqlstate), extra: false })
    for (const extra of EXTRA_CLASSES[sqlstate] ?? []) {
      current.conditions.push({ sqlstate, specName, className: extra.name, doc: extra.doc, extra: true })
    }
  }
  return sections
}

const validate = (sections: ReadonlyArray<Section>): void => {
  const names = new Set<string>()
  const codes = new Set<string>()
  const check = (name: string, what: string) => {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) throw new Error(`${what}: ${name} is not an identifier`)
    if (names.has(name)) throw new Error(`${what}: duplicate name ${name}`)
    if (RESERVED.has(name)) throw new Error(`${what}: ${name} is reserved; add it to NAME_OVERRIDES`)
    if (name in globalThis) throw new Error(`${what}: ${name} shadows a global; add it to NAME_OVERRIDES`)
    names.add(name)
  }
  for (const section of sections) {
    check(section.typeName, `class ${section.code}`)
    check(`is${section.typeName}`, `class ${section.code}`)
    if (!section.conditions.some((c) => c.sqlstate === `${section.code}000`)) {
      throw new Error(`class ${section.code} has no generic condition ${section.code}000`)
    }
    for (const c of section.conditions) {
      check(c.className, c.sqlstate)
      if (c.extra) continue
      if (codes.has(c.sqlstate)) throw new Error(`duplicate SQLSTATE ${c.sqlstate}`)
      codes.add(c.sqlstate)
    }
  }
}

const render = (sections: ReadonlyArray<Section>, source: string): string => {
  const out: Array<string> = []
  const all: Array<string> = []
  out.push(
    `/**`,
    ` * One tagged error class per PostgreSQL SQLSTATE, grouped by SQLSTATE class.`,
    ` *`,
    ` * GENERATED by scripts/gen-sqlstate.ts from ${source}; do not edit.`,
    ` * Regenerate with \`npm run gen:errors [path/to/errcodes.txt]\`.`,
    ` *`,
    ` * @since 0.1.0`,
    ` */`,
    `import type { ServerErrorInit } from "./base.js"`,
    `import { isPostgresErrorBase, ServerError, UnknownPostgresError } from "./base.js"`,
    ``
  )
  for (const section of sections) {
    const category = `Class ${section.code} - ${section.title}`
    out.push(`// ${"-".repeat(76)}`, `// ${category}`, `// ${"-".repeat(76)}`, ``)
    for (const c of section.conditions) {
      const generic = c.sqlstate === `${section.code}000` && !c.extra
      const doc = c.doc ??
        (generic
          ? `SQLSTATE \`${c.sqlstate}\` (\`${c.specName}\`), also used for codes of class \`${section.code}\` unknown to this version.`
          : `SQLSTATE \`${c.sqlstate}\` (\`${c.specName}\`).`)
      out.push(
        `/**`,
        ` * ${doc}`,
        ` *`,
        ` * @since 0.1.0`,
        ` * @category ${category}`,
        ` */`,
        `export class ${c.className} extends ServerError("${c.className}", "${c.sqlstate}") {}`,
        ``
      )
      all.push(c.className)
    }
    const members = section.conditions.map((c) => c.className)
    out.push(
      `/**`,
      ` * Any error of SQLSTATE class \`${section.code}\` (${section.title}).`,
      ` *`,
      ` * @since 0.1.0`,
      ` * @category ${category}`,
      ` */`,
      `export type ${section.typeName} =`,
      ...members.map((m) => `  | ${m}`),
      ``,
      `/**`,
      ` * Tests for an error of SQLSTATE class \`${section.code}\` (${section.title}).`,
      ` *`,
      ` * @since 0.1.0`,
      ` * @category ${category}`,
      ` */`,
      `export const is${section.typeName} = (u: unknown): u is ${section.typeName} =>`,
      `  isPostgresErrorBase(u) && classOfTag.get(u._tag) === "${section.code}"`,
      ``
    )
  }
  out.push(
    `// ${"-".repeat(76)}`,
    `// The union and the lookup tables`,
    `// ${"-".repeat(76)}`,
    ``,
    `/**`,
    ` * Every error the server can send: the union of all SQLSTATE classes above`,
    ` * and {@link UnknownPostgresError} (\`_tag: "PostgresError"\`) for unknown`,
    ` * SQLSTATE classes. \`Effect.catchTag\` narrows on it.`,
    ` *`,
    ` * @since 0.1.0`,
    ` * @category models`,
    ` */`,
    `export type PostgresError =`,
    ...all.map((m) => `  | ${m}`),
    `  | UnknownPostgresError`,
    ``,
    `/**`,
    ` * The fallback server error class (\`_tag: "PostgresError"\`), used when the`,
    ` * SQLSTATE class is unknown; the same class as {@link UnknownPostgresError}.`,
    ` *`,
    ` * @since 0.1.0`,
    ` * @category errors`,
    ` */`,
    `export const PostgresError: typeof UnknownPostgresError = UnknownPostgresError`,
    ``,
    `/**`,
    ` * The \`_tag\` of every server error class.`,
    ` *`,
    ` * @since 0.1.0`,
    ` * @category models`,
    ` */`,
    `export type PostgresErrorTag = PostgresError["_tag"]`,
    ``,
    `/** @internal */`,
    `type ServerErrorConstructor = new(init: ServerErrorInit) => PostgresError`,
    ``,
    `/** @internal */`,
    `const classOfTag: ReadonlyMap<string, string> = new Map([`,
    ...sections.flatMap((s) => s.conditions.map((c) => `  ["${c.className}", "${s.code}"],`)),
    `])`,
    ``,
    `/**`,
    ` * The class for each SQLSTATE code (exact match).`,
    ` *`,
    ` * @internal`,
    ` */`,
    `export const classBySqlstate: ReadonlyMap<string, ServerErrorConstructor> = new Map<string, ServerErrorConstructor>([`,
    ...sections.flatMap((s) => s.conditions.filter((c) => !c.extra).map((c) => `  ["${c.sqlstate}", ${c.className}],`)),
    `])`,
    ``,
    `/**`,
    ` * The generic class of each SQLSTATE class (\`"23"\` → IntegrityConstraintViolationError).`,
    ` *`,
    ` * @internal`,
    ` */`,
    `export const classBySqlstateClass: ReadonlyMap<string, ServerErrorConstructor> = new Map<`,
    `  string,`,
    `  ServerErrorConstructor`,
    `>([`,
    ...sections.map((s) => {
      const generic = s.conditions.find((c) => c.sqlstate === `${s.code}000` && !c.extra)!
      return `  ["${s.code}", ${generic.className}],`
    }),
    `])`,
    ``,
    `/**`,
    ` * The title of each SQLSTATE class, as in errcodes.txt.`,
    ` *`,
    ` * @since 0.1.0`,
    ` * @category models`,
    ` */`,
    `export const sqlstateClassTitles: Readonly<Record<string, string>> = {`,
    ...sections.map((s) => `  ${/^[A-Za-z_]/.test(s.code) ? s.code : JSON.stringify(s.code)}: ${JSON.stringify(s.title)},`),
    `}`,
    ``
  )
  return out.join("\n")
}

const newestErrcodes = (): string => {
  const root = "/usr/share/postgresql"
  const versions = Fs.existsSync(root)
    ? Fs.readdirSync(root)
      .filter((d) => /^\d+(\.\d+)?$/.test(d) && Fs.existsSync(Path.join(root, d, "errcodes.txt")))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : []
  if (versions.length === 0) {
    throw new Error(`no ${root}/*/errcodes.txt found; pass the path of errcodes.txt as an argument`)
  }
  return Path.join(root, versions[0]!, "errcodes.txt")
}

const main = (argv: ReadonlyArray<string>): void => {
  const here = Path.dirname(fileURLToPath(import.meta.url))
  let out = Path.resolve(here, "..", "src", "errors", "sqlstate.ts")
  let input: string | undefined
  let check = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--out") out = Path.resolve(argv[++i] ?? "")
    else if (arg === "--check") check = true
    else if (arg.startsWith("-")) throw new Error(`unknown option ${arg}`)
    else input = arg
  }
  const path = input ?? newestErrcodes()
  const sections = parse(Fs.readFileSync(path, "utf8"))
  validate(sections)
  const version = /postgresql\/([^/]+)\/errcodes\.txt$/.exec(path)?.[1]
  const source = version !== undefined ? `PostgreSQL ${version}'s errcodes.txt` : "errcodes.txt"
  const text = render(sections, source)
  const count = sections.reduce((n, s) => n + s.conditions.length, 0)
  if (check) {
    const current = Fs.existsSync(out) ? Fs.readFileSync(out, "utf8") : ""
    if (current !== text) {
      console.error(`${out} is out of date with ${path}`)
      process.exitCode = 1
    }
    return
  }
  Fs.writeFileSync(out, text)
  console.log(`wrote ${out}: ${count} classes in ${sections.length} SQLSTATE classes from ${path}`)
}

main(process.argv.slice(2))
