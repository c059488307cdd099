/**
 * Every program in examples/ runs, as a user would run it (its own Node
 * process, `tsx`, DATABASE_URL = the test server), and does what its comment
 * says: the quick start prints its results; the HTTP API answers 201 then
 * 409 for the same email; the bulk loader prints progress and loads every
 * row; the LISTEN/NOTIFY worker runs jobs it is notified of; the long-running
 * ones exit 0 on SIGTERM with their pool closed (no backend left with their
 * application_name).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import * as Connection from "../src/Connection.js"
import { TEST_DSN, uniqueName } from "./support/db.js"

const root = path.resolve(import.meta.dirname, "..")

/** A running example: its output so far, a wait for a line, its exit. */
interface Running {
  readonly child: ChildProcess
  readonly output: () => string
  /** resolves with the first match of `pattern` in the output; rejects after `ms` (default 60 s: starting tsx on a loaded machine took 12 s) or when the process exits first */
  readonly waitFor: (pattern: RegExp, ms?: number) => Promise<RegExpMatchArray>
  readonly exit: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

const started: Array<ChildProcess> = []

/** Starts `examples/<file>` in a Node process of its own (no npx/tsx wrapper, so signals reach it). */
const run = (file: string, env: Record<string, string> = {}): Running => {
  const child = spawn(process.execPath, ["--import", "tsx", path.join("examples", file)], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: TEST_DSN, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  started.push(child)
  let out = ""
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    out += chunk.toString("utf8")
    for (const l of listeners) l()
  }
  child.stdout!.on("data", onData)
  child.stderr!.on("data", onData)
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })))
  let exited = false
  void exit.then(() => {
    exited = true
    for (const l of listeners) l()
  })
  const waitFor = (pattern: RegExp, ms = 60_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = out.match(pattern)
        if (m !== null) done(() => resolve(m))
        else if (exited) done(() => reject(new Error(`${file} exited before printing ${pattern}; output:\n${out}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`${file} did not print ${pattern} within ${ms} ms; output:\n${out}`))), ms)
      const done = (f: () => void) => {
        clearTimeout(timer)
        listeners.delete(check)
        f()
      }
      listeners.add(check)
      check()
    })
  return { child, output: () => out, waitFor, exit }
}

/** The exit of a process, or a rejection after `ms`. */
const within = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))])

/** One query on a connection of its own, against the test server. */
const query = (sql: string, args: ReadonlyArray<unknown> = []): Promise<unknown> =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(Connection.connect(TEST_DSN), (c) => c.fetchval(sql, args))))

/** Backends whose application_name is `name`. */
const backends = (name: string) => query("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $1", [name])

/** 0 once the server has let go of every backend named `name` (it may take a moment after the client exits); else the count after 3 s. */
const backendsGone = async (name: string): Promise<unknown> => {
  for (let i = 0; ; i++) {
    const n = await backends(name)
    if (n === 0 || i >= 30) return n
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

afterEach(() => {
  // an example a failed test left running does not outlive the test
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

describe("examples/", () => {
  it("quickstart.ts (npm start) runs on DATABASE_URL and prints its results", async () => {
    const p = run("quickstart.ts")
    const { code } = await within(p.exit, 100_000, "quickstart")
    expect(p.output()).toContain("running on DATABASE_URL")
    expect(p.output()).toContain("active users: 2")
    expect(p.output()).toContain("active after update: 3")
    expect(p.output()).toMatch(/duplicate insert: refused: .*quickstart_users_pkey/)
    expect(p.output()).toContain("done.")
    expect(code).toBe(0)
  }, 120_000)

  it("http-api.ts: POST /users answers 201, the same email again 409, a bad body 400; GET finds the user; SIGTERM exits 0", async () => {
    const app = uniqueName("ex_http")
    const p = run("http-api.ts", { PORT: "0", PGAPPNAME: app })
    const [, base] = await p.waitFor(/listening on (http:\/\/\S+)/)
    const email = `${uniqueName("user")}@example.com`
    const post = (body: unknown) =>
      fetch(`${base}/users`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    try {
      const first = await post({ email, name: "Ada" })
      expect(first.status).toBe(201)
      const created = (await first.json()) as { id: string; email: string; name: string }
      expect(created).toMatchObject({ email, name: "Ada" })
      const second = await post({ email, name: "Ada again" })
      expect(second.status).toBe(409)
      expect(await second.json()).toEqual({ error: "email already registered", constraint: "example_api_users_email_key" })
      expect((await post({ email: 42 })).status).toBe(400)
      const found = await fetch(`${base}/users/${created.id}`)
      expect(found.status).toBe(200)
      expect(await found.json()).toEqual(created)
      expect((await fetch(`${base}/users/999999999999`)).status).toBe(404)
      expect(await backends(app)).toBeGreaterThan(0)
    } finally {
      p.child.kill("SIGTERM")
      await query("DELETE FROM example_api_users WHERE email = $1", [email]).catch(() => undefined)
    }
    const { code } = await within(p.exit, 15_000, "http-api after SIGTERM")
    expect(code).toBe(0)
    expect(await backendsGone(app)).toBe(0)
  }, 120_000)

  it("bulk-load.ts: copyRecordsToTable in batches, progress after each, every row loaded", async () => {
    const table = uniqueName("ex_bulk")
    const p = run("bulk-load.ts", { ROWS: "25000", BATCH: "10000", TABLE: table })
    try {
      const { code } = await within(p.exit, 100_000, "bulk-load")
      const progress = p.output().match(/^loaded \d+\/25000 rows \(\d+ rows\/s\)$/gm) ?? []
      expect(progress.map((l) => l.split(" ")[1])).toEqual(["10000/25000", "20000/25000", "25000/25000"])
      expect(p.output()).toContain(`done: ${table} holds 25000 rows`)
      expect(code).toBe(0)
      expect(await query(`SELECT count(DISTINCT id)::int FROM ${table}`)).toBe(25000)
      expect(await query(`SELECT at FROM ${table} WHERE id = 1`)).toEqual(new Date(1_700_000_001_000))
    } finally {
      await query(`DROP TABLE IF EXISTS ${table}`)
    }
  }, 120_000)

  it("listen-worker.ts: runs jobs queued before it started and jobs it is notified of; SIGTERM exits 0", async () => {
    const queue = uniqueName("ex_jobs")
    const app = uniqueName("ex_worker")
    // a job waiting before any worker listens: the first drain takes it
    await query(`CREATE TABLE ${queue} (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload text NOT NULL, done_at timestamptz)`)
    try {
      await query(`INSERT INTO ${queue} (payload) VALUES ('early')`)
      const p = run("listen-worker.ts", { QUEUE: queue, PGAPPNAME: app })
      await p.waitFor(/listening on channel/)
      await p.waitFor(/job #1: early/, 10_000)
      for (const payload of ["a", "b", "c"]) {
        await query(`WITH job AS (INSERT INTO ${queue} (payload) VALUES ($1) RETURNING id) SELECT pg_notify('${queue}', id::text) FROM job`, [payload])
      }
      await p.waitFor(/job #4: c/, 10_000)
      expect(p.output().match(/^job #\d+: .*$/gm)).toEqual(["job #1: early", "job #2: a", "job #3: b", "job #4: c"])
      expect(await query(`SELECT count(*)::int FROM ${queue} WHERE done_at IS NULL`)).toBe(0)
      p.child.kill("SIGTERM")
      const { code } = await within(p.exit, 15_000, "listen-worker after SIGTERM")
      expect(code).toBe(0)
      expect(await backendsGone(app)).toBe(0)
    } finally {
      await query(`DROP TABLE IF EXISTS ${queue}`)
    }
  }, 120_000)

  it("graceful-shutdown.ts: on SIGTERM the job in flight finishes, the pool closes, the exit code is 0", async () => {
    const app = uniqueName("ex_shutdown")
    const p = run("graceful-shutdown.ts", { APP_NAME: app })
    await p.waitFor(/ready: pool of 2 connections/)
    // SIGTERM while a job runs (each takes ~200 ms on the server)
    await p.waitFor(/job 2 started/)
    expect(await backends(app)).toBe(2)
    p.child.kill("SIGTERM")
    const { code, signal } = await within(p.exit, 15_000, "graceful-shutdown after SIGTERM")
    expect({ code, signal }).toEqual({ code: 0, signal: null })
    const out = p.output()
    const startedJobs = out.match(/^job \d+ started$/gm) ?? []
    const finishedJobs = out.match(/^job \d+ finished$/gm) ?? []
    // no job was cut in half
    expect(finishedJobs.length).toBe(startedJobs.length)
    expect(startedJobs.length).toBeGreaterThanOrEqual(2)
    // the order of shutdown: stop, then the pool closes, then the process ends
    const lastFinished = out.lastIndexOf(" finished")
    expect(out.indexOf("stopping: no new jobs")).toBeGreaterThan(lastFinished)
    expect(out.indexOf("pool closed: 0 connections open")).toBeGreaterThan(out.indexOf("stopping: no new jobs"))
    expect(await backendsGone(app)).toBe(0)
  }, 120_000)
})
