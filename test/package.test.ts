/**
 * The package as a user gets it: `npm pack` (prepack builds dist), the
 * tarball installed from the npm registry's side into a fresh project that
 * pins a different effect 4.x than ours (inside our peer range), a small app
 * importing every subpath of the `exports` map type-checked with `tsc
 * --module nodenext` (library declarations checked too) and run against the
 * test server; `npm ls effect` must show one copy of effect.
 *
 * Needs the npm registry (or a warm npm cache); takes about a minute.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { TEST_DSN } from "./support/db.js"

const ROOT = Path.resolve(import.meta.dirname, "..")

/** An effect 4.x the app pins: older than ours, inside our peer range. */
const APP_EFFECT = "4.0.6"

interface PackageJson {
  readonly name: string
  readonly version: string
  readonly exports: Record<string, { readonly types: string; readonly default: string }>
  readonly peerDependencies?: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly devDependencies: Record<string, string>
  readonly files: ReadonlyArray<string>
}

const version = (v: string): [number, number, number] => {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v)
  if (m === null) throw new Error(`not a plain version: ${v}`)
  return [Number(m[1]), Number(m[2]), Number(m[3])]
}

/** Whether `v` satisfies a caret range `^X.Y.Z` (the only form the peer range uses). */
const satisfiesCaret = (v: string, range: string): boolean => {
  const m = /^\^(\d+\.\d+\.\d+)$/.exec(range)
  if (m === null) throw new Error(`the peer range should be a caret range, got ${range}`)
  const [a, b, c] = version(v)
  const [x, y, z] = version(m[1]!)
  if (a !== x) return false
  return b > y || (b === y && c >= z)
}

/** The environment for child npm/node processes: without the npm_* variables of the npx that runs vitest. */
const childEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")))

const run = (cmd: string, args: ReadonlyArray<string>, cwd: string, extraEnv: Record<string, string> = {}): string => {
  try {
    return execFileSync(cmd, args, { cwd, env: { ...childEnv(), ...extraEnv }, stdio: "pipe", encoding: "utf8", timeout: 300_000 })
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`)
  }
}

/** An app that imports every subpath of the exports map and runs one query through the Effect API and one through the Promise facade. */
const appSource = (subpaths: ReadonlyArray<string>): string => {
  const imports = subpaths.map((s, i) => `import * as M${i} from "${s}"`)
  return [
    `import * as Effect from "effect/Effect"`,
    ...imports,
    `import { PgPool, Range, Interval } from "effect-pg"`,
    `import { createPool, UniqueViolationError } from "effect-pg/promise"`,
    `import type { TypeCodecOptions } from "effect-pg/Types"`,
    ``,
    `const modules: ReadonlyArray<object> = [${subpaths.map((_, i) => `M${i}`).join(", ")}]`,
    `const codec: TypeCodecOptions<number> = { encoder: String, decoder: Number }`,
    `const dsn = process.env["APP_DSN"]!`,
    `const viaEffect = Effect.gen(function* () {`,
    `  const pool = yield* PgPool`,
    `  return yield* pool.fetchval("SELECT $1::int4range", [new Range(1, 10)])`,
    `}).pipe(Effect.provide(PgPool.layer({ dsn, minSize: 1, maxSize: 1 })))`,
    ``,
    `const main = async () => {`,
    `  const range = await Effect.runPromise(viaEffect)`,
    `  const pool = await createPool(dsn, { minSize: 1, maxSize: 1 })`,
    `  const n = await pool.fetchval<number>("SELECT $1::int4 + 1", 41)`,
    `  let unique = false`,
    `  try {`,
    `    await pool.execute("DO $$ BEGIN RAISE unique_violation USING MESSAGE = 'dup'; END $$")`,
    `  } catch (e) {`,
    `    unique = e instanceof UniqueViolationError`,
    `  }`,
    `  await pool.close()`,
    `  const interval = new Interval(1, 2, 3)`,
    `  console.log(JSON.stringify({ range: String(range), n, unique, modules: modules.length, interval: interval.days, codec: typeof codec.decoder }))`,
    `}`,
    `main().catch((e) => { console.error(e); process.exit(1) })`,
    ``
  ].join("\n")
}

describe("the published package", () => {
  it("installs beside another effect 4.x without a second copy, type-checks and runs", { timeout: 540_000 }, () => {
    const pkg = JSON.parse(Fs.readFileSync(Path.join(ROOT, "package.json"), "utf8")) as PackageJson
    // effect is a peer, pinned only among our own devDependencies
    expect(pkg.dependencies?.["effect"]).toBeUndefined()
    const peer = pkg.peerDependencies?.["effect"]
    expect(peer).toBeDefined()
    expect(satisfiesCaret(pkg.devDependencies["effect"]!, peer!)).toBe(true)
    expect(satisfiesCaret(APP_EFFECT, peer!)).toBe(true)
    expect(APP_EFFECT).not.toBe(pkg.devDependencies["effect"])

    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-pg-package-"))
    try {
      // prepack builds dist
      const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dir], ROOT)) as Array<{
        filename: string
        files: Array<{ path: string }>
      }>
      const tarball = packed[0]!
      const inTarball = new Set(tarball.files.map((f) => f.path))
      for (const entry of Object.values(pkg.exports)) {
        expect(inTarball.has(entry.types.replace(/^\.\//, "")), entry.types).toBe(true)
        expect(inTarball.has(entry.default.replace(/^\.\//, "")), entry.default).toBe(true)
      }
      expect(inTarball.has("LICENSE")).toBe(true)
      expect([...inTarball].filter((f) => f.startsWith("test/") || f.startsWith("dist/.") || f.includes(".test."))).toEqual([])

      const app = Path.join(dir, "app")
      Fs.mkdirSync(app)
      Fs.writeFileSync(
        Path.join(app, "package.json"),
        JSON.stringify(
          {
            name: "effect-pg-package-test-app",
            private: true,
            type: "module",
            dependencies: { effect: APP_EFFECT, "effect-pg": `file:../${tarball.filename}` },
            devDependencies: { typescript: pkg.devDependencies["typescript"], "@types/node": pkg.devDependencies["@types/node"] }
          },
          null,
          2
        )
      )
      run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], app)

      // one copy of effect: the app's, which effect-pg uses as its peer
      const copies = run("npm", ["ls", "effect", "--all", "--parseable"], app)
        .split("\n")
        .filter((l) => l.trim() !== "")
      expect(copies.map((l) => Path.relative(app, l))).toEqual([Path.join("node_modules", "effect")])
      expect(Fs.existsSync(Path.join(app, "node_modules/effect-pg/node_modules/effect"))).toBe(false)
      const installed = JSON.parse(Fs.readFileSync(Path.join(app, "node_modules/effect/package.json"), "utf8")) as { version: string }
      expect(installed.version).toBe(APP_EFFECT)

      const subpaths = Object.keys(pkg.exports).map((k) => (k === "." ? pkg.name : `${pkg.name}/${k.slice(2)}`))
      Fs.writeFileSync(Path.join(app, "app.ts"), appSource(subpaths))
      Fs.writeFileSync(
        Path.join(app, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2023",
            lib: ["ES2023"],
            module: "nodenext",
            moduleResolution: "nodenext",
            strict: true,
            types: ["node"],
            outDir: "out",
            skipLibCheck: false
          },
          files: ["app.ts"]
        })
      )
      run(process.execPath, [Path.join(app, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], app)

      const output = run(process.execPath, [Path.join(app, "out/app.js")], app, { APP_DSN: TEST_DSN })
      expect(JSON.parse(output.trim().split("\n").pop()!)).toEqual({
        range: "[1,10)",
        n: 42,
        unique: true,
        modules: subpaths.length,
        interval: 2,
        codec: "function"
      })
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
