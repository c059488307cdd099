/**
 * The published types: build the `.d.ts` as `npm run build` does (into a
 * temporary folder), then check what a user can reach from the package's
 * `exports` map: no `Session` (the engine stays internal), no `@internal`
 * helper, no global augmentation in any emitted `.d.ts`; and a small
 * consumer that imports `Range`, `Interval`, codec option types and the
 * Promise facade type-checks against the built output.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

const ROOT = Path.resolve(import.meta.dirname, "..")
const TSC = Path.join(ROOT, "node_modules/typescript/bin/tsc")

/** `.d.ts` files reachable from `entries` through relative imports and re-exports. */
const reachable = (entries: ReadonlyArray<string>): Set<string> => {
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file) || !Fs.existsSync(file)) return
    seen.add(file)
    const text = Fs.readFileSync(file, "utf8")
    for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      visit(Path.resolve(Path.dirname(file), m[1]!.replace(/\.js$/, ".d.ts")))
    }
  }
  for (const e of entries) visit(e)
  return seen
}

describe("published declarations", () => {
  it("hide the engine and type-check for a consumer", { timeout: 300_000 }, () => {
    // inside the project, so the built files resolve `effect` from its node_modules
    const out = Fs.mkdtempSync(Path.join(ROOT, ".dts-test-"))
    try {
      execFileSync(process.execPath, [TSC, "-p", "tsconfig.build.json", "--outDir", out, "--declarationMap", "false", "--sourceMap", "false"], {
        cwd: ROOT,
        stdio: "pipe"
      })
      const pkg = JSON.parse(Fs.readFileSync(Path.join(ROOT, "package.json"), "utf8")) as {
        exports: Record<string, { types: string }>
      }
      const entries = Object.values(pkg.exports).map((e) => Path.join(out, Path.relative("dist", e.types)))
      for (const e of entries) expect(Fs.existsSync(e), e).toBe(true)
      const files = reachable(entries)
      // the public modules and the contract types they show, nothing of the engine
      expect(files.size).toBeGreaterThan(entries.length)
      const offenders: Array<string> = []
      for (const f of files) {
        const text = Fs.readFileSync(f, "utf8")
        for (const word of ["Session", "SessionHandle", "ConnectionImpl", "forgetClientState", "sessionOf", "declare global"]) {
          if (new RegExp(`\\b${word}\\b`).test(text)) offenders.push(`${Path.relative(out, f)}: ${word}`)
        }
      }
      expect(offenders).toEqual([])
      // no global augmentation anywhere in the build, reachable or not (it would change every user's globals)
      const allDts = (dir: string): Array<string> =>
        Fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? allDts(Path.join(dir, e.name)) : e.name.endsWith(".d.ts") ? [Path.join(dir, e.name)] : []
        )
      const everything = allDts(out)
      expect(everything.length).toBeGreaterThanOrEqual(files.size)
      const globals = everything.filter((f) => /\bdeclare\s+global\b|\binterface\s+Buffer\b/.test(Fs.readFileSync(f, "utf8")))
      expect(globals.map((f) => Path.relative(out, f))).toEqual([])
      // @internal declarations are stripped (stripInternal), also where nothing public imports them
      expect(Fs.readFileSync(Path.join(out, "Connection.d.ts"), "utf8")).not.toMatch(/\bforgetClientState\b|\bConnectionImpl\b/)

      const consumer = Path.join(out, "consumer.ts")
      Fs.writeFileSync(
        consumer,
        [
          `import { Interval, Range } from "./index.js"`,
          `import * as Types from "./Types.js"`,
          `const r: Range<number> = new Range(1, 10)`,
          `const i: Interval = null as unknown as Types.Interval`,
          `const t: Types.Range<string> = null as unknown as Range<string>`,
          `import { createPool, UniqueViolationError, type PromisePool, type TypeCodecOptions } from "./promise/index.js"`,
          `const codec: Types.TypeCodecOptions<number> = { encoder: String, decoder: Number }`,
          `const same: TypeCodecOptions<number> = codec`,
          `export const check = (e: unknown, p: PromisePool): string => e instanceof UniqueViolationError ? e.code + p.getSize() : ""`,
          `export const values: ReadonlyArray<unknown> = [r, i, t, createPool, same]`,
          ``
        ].join("\n")
      )
      execFileSync(
        process.execPath,
        [TSC, "--noEmit", "--strict", "--target", "ES2023", "--module", "NodeNext", "--moduleResolution", "NodeNext", "--types", "node", consumer],
        { cwd: ROOT, stdio: "pipe" }
      )
    } catch (e) {
      const err = e as { stdout?: Buffer; message: string }
      throw new Error(`${err.message}\n${err.stdout?.toString() ?? ""}`)
    } finally {
      Fs.rmSync(out, { recursive: true, force: true })
    }
  })
})
