/**
 * The house rules of `src/`: no import circle among its files (type-only
 * imports count too), and nothing in `protocol/` imports from above it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"

const SRC = Path.resolve(import.meta.dirname, "../src")

const sourceFiles = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = Path.join(dir, e.name)
    return e.isDirectory() ? sourceFiles(p) : p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : []
  })

const IMPORT = /\bfrom\s*["'](\.{1,2}\/[^"']+)["']|\bimport\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g

/** file → the src files it imports (relative specifiers, `.js` → `.ts`) */
const importGraph = (): Map<string, Array<string>> => {
  const graph = new Map<string, Array<string>>()
  for (const file of sourceFiles(SRC)) {
    const text = Fs.readFileSync(file, "utf8")
    const deps: Array<string> = []
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!
      const target = Path.resolve(Path.dirname(file), spec.replace(/\.js$/, ".ts"))
      deps.push(target)
    }
    graph.set(file, deps)
  }
  return graph
}

/** Every import circle, each as the list of files around it. */
const findCircles = (graph: Map<string, Array<string>>): Array<Array<string>> => {
  const circles: Array<Array<string>> = []
  const state = new Map<string, "open" | "done">()
  const stack: Array<string> = []
  const visit = (file: string): void => {
    state.set(file, "open")
    stack.push(file)
    for (const dep of graph.get(file) ?? []) {
      const s = state.get(dep)
      if (s === "open") circles.push([...stack.slice(stack.indexOf(dep)), dep])
      else if (s === undefined && graph.has(dep)) visit(dep)
    }
    stack.pop()
    state.set(file, "done")
  }
  for (const file of graph.keys()) if (!state.has(file)) visit(file)
  return circles
}

const rel = (f: string) => Path.relative(SRC, f)

describe("source layout", () => {
  it("has no import circle among src/ files", () => {
    const circles = findCircles(importGraph()).map((c) => c.map(rel).join(" → "))
    expect(circles).toEqual([])
  })

  it("finds a circle when there is one (the checker itself works)", () => {
    const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])
    expect(findCircles(g)).toEqual([["a", "b", "c", "a"]])
  })

  it("every relative import resolves to a file in src/", () => {
    const missing = [...importGraph()].flatMap(([f, deps]) => deps.filter((d) => !Fs.existsSync(d)).map((d) => `${rel(f)} → ${rel(d)}`))
    expect(missing).toEqual([])
  })

  it("protocol/ imports nothing from above it", () => {
    const up = [...importGraph()]
      .filter(([f]) => rel(f).startsWith("protocol/"))
      .flatMap(([f, deps]) => deps.filter((d) => !rel(d).startsWith("protocol/")).map((d) => `${rel(f)} → ${rel(d)}`))
    expect(up).toEqual([])
  })
})
