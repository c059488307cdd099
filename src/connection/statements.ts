/**
 * The statement cache of a session: named statements by SQL text (an LRU
 * with a lifetime and a size limit), descriptions of the unnamed statement,
 * Parse/Describe, introspection of unknown types through pg_type, and the
 * encoding of arguments with a statement's parameter codecs.
 *
 * Internal: not exported by the package.
 */
import { randomBytes } from "node:crypto"
import * as Errors from "../Errors.js"
import * as Reader from "../protocol/Reader.js"
import { MAX_COUNT, type WireValue } from "../protocol/Writer.js"
import { checkStatementText } from "./sqltext.js"
import * as PgRecord from "../Record.js"
import { EncodeError, type IntrospectedType } from "../types/Codec.js"
import { TypeRegistry } from "../types/Registry.js"
import { serverError, safeCall, type Callback, type Request, type SessionError } from "./request.js"
import type { ExecuteResult } from "./rows.js"
import type { Statement } from "./statement.js"

import { SESSION_FUNCTIONS } from "./sessionChanges.js"
import type { Task } from "./task.js"
import { noteDriverStatement } from "./unnamed.js"
import { Wire } from "./wire.js"

const B = Reader.Backend

/**
 * A short description of an argument for error messages. Never throws: a
 * Proxy whose traps throw, a revoked Proxy or a throwing `constructor` getter
 * is described without being inspected further.
 */
const describeValue = (v: unknown): string => {
  try {
    if (v === null) return "null"
    if (typeof v === "string") return v.length > 40 ? `string "${v.slice(0, 40)}…"` : `string "${v}"`
    if (typeof v === "symbol") return "a symbol"
    if (typeof v === "object" || typeof v === "function") {
      const name: unknown = (v as { constructor?: { name?: unknown } }).constructor?.name
      return typeof name === "string" && name !== "" ? `${name} ${typeof v}` : typeof v
    }
    return `${typeof v} ${String(v)}`
  } catch {
    return `${typeof v} that could not be inspected (reading it threw)`
  }
}

/** The message of something thrown, without trusting it (it may be a hostile object). */
const thrownMessage = (e: unknown): string => {
  try {
    return e instanceof Error ? e.message : String(e)
  } catch {
    return "an exception that could not be read"
  }
}

/**
 * A random part of the statement names of one session: names cannot collide
 * with another connection's or process's behind a pooler that hands one
 * server connection to many clients. 48 bits, base 36.
 */
const sessionNameId = (): string => randomBytes(6).readUIntBE(0, 6).toString(36)

/**
 * Built-in codecs with the default options: the driver's own queries encode
 * their arguments and decode their rows with these, so a codec the user set
 * (on `oid`, `text`, ...) never changes what the driver reads from the catalog.
 * Never changed: built-in statements are not introspected.
 */
const BUILTIN_REGISTRY = new TypeRegistry()

/** Descriptions of the unnamed statement kept per session (metadata only) when the statement cache is off. */
const DESCRIPTION_CACHE_SIZE = 100

const truncate = (sql: string): string => (sql.length > 80 ? `${sql.slice(0, 77)}...` : sql)

const toIntrospected = (row: PgRecord.Record): IntrospectedType => ({
  oid: Number(row.get("oid")),
  name: String(row.get("name")),
  schema: String(row.get("schema")),
  kind: String(row.get("kind")),
  elemOid: Number(row.get("elemOid") ?? 0),
  baseOid: Number(row.get("baseOid") ?? 0),
  rangeSubtypeOid: Number(row.get("rangeSubtypeOid") ?? 0),
  attrNames: (row.get("attrNames") as ReadonlyArray<string> | null) ?? [],
  attrOids: ((row.get("attrOids") as ReadonlyArray<unknown> | null) ?? []).map(Number)
})

/**
 * How often a session found the cached schema outdated, shared by the
 * sessions of one pool (asyncpg drops the caches of the whole pool): a
 * session that sees the counters move forgets too, before its next
 * statement. `statements`: cached plans are outdated (it also moves with
 * `types`); `types`: introspected types are.
 */
export interface SchemaEpoch {
  statements: number
  types: number
}

/** A session's statements, on its wire; `Session` adds execution (and `query`, which introspection runs). */
export abstract class StatementCache extends Wire {
  protected readonly statements = new Map<string, Statement>()
  /** descriptions of the unnamed statement by SQL (statement cache off, or SQL too long to cache) */
  protected readonly descriptions = new Map<string, Statement>()
  /** prefix of every statement name of this session: random, so names never collide across sessions or processes */
  readonly namePrefix = `__epg_${sessionNameId()}_`
  protected nameCounter = 0
  /** only the unnamed statement: `prepare: false` or a statement cache of 0 */
  readonly unnamedOnly: boolean = this.settings.prepare === false || this.settings.statementCacheSize <= 0

  /** descriptions of the driver's own queries by SQL (a few fixed texts): built-in codecs, nothing kept on the server */
  protected readonly builtins = new Map<string, Statement>()

  /** this session's, or its pool's (see {@link StatementCache.shareSchemaEpoch}) */
  protected schemaEpoch: SchemaEpoch = { statements: 0, types: 0 }
  /** the counters of `schemaEpoch` this session has caught up with */
  protected seenStatements = 0
  protected seenTypes = 0

  /** Runs `sql` with `args` and collects its rows (execution, in `Session`). */
  abstract query(sql: string, args: ReadonlyArray<unknown>, cb: Callback<ExecuteResult>, task?: Task): Task

  /** Runs one of the driver's own queries with built-in codecs (see {@link StatementCache.builtinStatement}). */
  abstract internalQuery(sql: string, args: ReadonlyArray<unknown>, cb: Callback<ExecuteResult>, task?: Task): Task

  // -------------------------------------------------------------------------
  // Statements
  // -------------------------------------------------------------------------

  /**
   * Gets a ready statement for `sql`: from the cache, or by sending
   * Parse/Describe/Sync (and introspecting unknown types). `cb` receives it.
   * With the statement cache off (or SQL too long to cache) it is a
   * description of the unnamed statement, which every execution parses
   * again. `dedicated`: a named statement of the caller's own, which the
   * caller closes (prepared statements, cursors).
   */
  statement(sql: string, cb: Callback<Statement>, dedicated = false): void {
    if (this.schemaEpoch.statements !== this.seenStatements) this.catchUpSchema()
    if (!dedicated && (this.unnamedOnly || sql.length > this.settings.maxCacheableStatementSize)) {
      this.describe(sql, cb)
      return
    }
    const cacheable = !dedicated
    if (cacheable) {
      const hit = this.lookup(this.statements, sql, cb)
      if (hit) return
    }
    const st = this.newStatement(`${this.namePrefix}${(++this.nameCounter).toString(36)}`, sql, cacheable, false)
    if (cacheable) this.remember(this.statements, st, this.settings.statementCacheSize)
    st.waiters.push((err) => (err ? cb(err, undefined) : cb(undefined, st)))
    this.prepare(st)
  }

  /**
   * Gets the description of `sql` as the unnamed statement (parameter and
   * result types, codecs) from the session's LRU of descriptions, or by
   * Parse("")/Describe/Sync. Nothing stays prepared on the server.
   */
  describe(sql: string, cb: Callback<Statement>): void {
    if (this.schemaEpoch.statements !== this.seenStatements) this.catchUpSchema()
    const keep = sql.length <= this.settings.maxCacheableStatementSize
    if (keep && this.lookup(this.descriptions, sql, cb)) return
    const st = this.newStatement("", sql, keep, true)
    if (keep) this.remember(this.descriptions, st, Math.max(this.settings.statementCacheSize, DESCRIPTION_CACHE_SIZE))
    st.waiters.push((err) => (err ? cb(err, undefined) : cb(undefined, st)))
    this.prepare(st)
  }

  /**
   * Gets the description of one of the driver's own queries (introspection,
   * catalog lookups): an unnamed statement (nothing kept on the server, so
   * it survives DISCARD ALL and poolers) whose parameters and columns use
   * the built-in codecs with the default options and whose rows are plain
   * Records, whatever codecs or record class the user set. Kept per session.
   */
  builtinStatement(sql: string, cb: Callback<Statement>): void {
    const hit = this.builtins.get(sql)
    if (hit !== undefined) {
      if (hit.state === "ready") cb(undefined, hit)
      else hit.waiters.push((err) => (err ? cb(err, undefined) : cb(undefined, hit)))
      return
    }
    const st = this.newStatement("", sql, true, true, true)
    this.builtins.set(sql, st)
    st.waiters.push((err) => (err ? cb(err, undefined) : cb(undefined, st)))
    this.prepare(st)
  }

  /** The registry a statement's codecs come from: the built-in one for the driver's own queries. */
  registryOf(st: Statement): TypeRegistry {
    return st.builtin ? BUILTIN_REGISTRY : this.registry
  }

  /** The cache that owns a statement. */
  protected cacheOf(st: Statement): Map<string, Statement> {
    return st.builtin ? this.builtins : st.unnamed ? this.descriptions : this.statements
  }

  /** A cache hit for `sql` handed to `cb` (or queued while it is prepared): true; false when there is none. */
  protected lookup(cache: Map<string, Statement>, sql: string, cb: Callback<Statement>): boolean {
    const hit = cache.get(sql)
    if (hit === undefined) return false
    const lifetime = this.settings.maxCachedStatementLifetime
    if (hit.state === "ready" && lifetime > 0 && Date.now() - hit.preparedAt > lifetime) {
      this.evict(hit)
      return false
    }
    // LRU: move to the end
    cache.delete(sql)
    cache.set(sql, hit)
    if (hit.state === "ready") cb(undefined, hit)
    else hit.waiters.push((err) => (err ? cb(err, undefined) : cb(undefined, hit)))
    return true
  }

  /** Adds a statement to a cache, evicting the least recently used beyond `size`. */
  protected remember(cache: Map<string, Statement>, st: Statement, size: number): void {
    cache.set(st.sql, st)
    if (cache.size > size) {
      const oldest = cache.values().next().value
      if (oldest !== undefined && oldest !== st) this.evict(oldest)
    }
  }

  protected newStatement(name: string, sql: string, cached: boolean, unnamed: boolean, builtin = false): Statement {
    return {
      name,
      sql,
      cached,
      unnamed,
      builtin,
      state: "preparing",
      waiters: [],
      paramOids: [],
      fields: [],
      paramCodecs: [],
      paramFormats: [],
      resultCodecs: [],
      resultFormats: [],
      make: undefined,
      preparedAt: Date.now(),
      touchesSession: SESSION_FUNCTIONS.test(sql),
      serverMs: undefined
    }
  }

  /**
   * The server's average time for `sql`, ms, when this session has run it
   * (a pool uses it to pipeline fast statements deeply and spread slow ones).
   */
  statementServerMs(sql: string): number | undefined {
    return (this.statements.get(sql) ?? this.descriptions.get(sql))?.serverMs
  }

  /** Drops a statement from its cache and closes it on the server (a description: nothing to close). */
  evict(st: Statement): void {
    const cache = this.cacheOf(st)
    if (cache.get(st.sql) === st) cache.delete(st.sql)
    if (st.state === "ready" && !st.unnamed) this.closeStatement(st.name)
  }

  // -------------------------------------------------------------------------
  // Schema changes
  // -------------------------------------------------------------------------

  /**
   * Shares `epoch` with the other sessions of a pool: when one of them finds
   * the schema outdated, every one forgets its cached statements (and
   * introspected types) before its next statement.
   */
  shareSchemaEpoch(epoch: SchemaEpoch): void {
    this.schemaEpoch = epoch
    this.seenStatements = epoch.statements
    this.seenTypes = epoch.types
  }

  /**
   * Forgets the cached schema now, in this session and (at their next
   * statement) every session sharing its epoch: with `types`, the
   * introspected types too (the next lookup introspects them again). On a
   * result that showed it outdated, and on `reloadSchemaState`.
   */
  override schemaOutdated(types: boolean): void {
    const epoch = this.schemaEpoch
    epoch.statements++
    if (types) epoch.types++
    this.catchUpSchema()
  }

  /** Forgets what the epoch says is outdated since this session last looked. */
  protected catchUpSchema(): void {
    const epoch = this.schemaEpoch
    if (epoch.types !== this.seenTypes) this.setRegistry(this.registry.withoutIntrospected())
    this.seenStatements = epoch.statements
    this.seenTypes = epoch.types
    this.clearStatements(true)
  }

  /**
   * Whether a ready statement's codecs come from the current registry (a
   * statement of the caller's own keeps its codecs when the session forgets
   * its introspected types: {@link StatementCache.refreshCodecs} rebuilds them).
   */
  codecsCurrent(st: Statement): boolean {
    if (this.schemaEpoch.statements !== this.seenStatements) this.catchUpSchema()
    return st.builtin === true || st.registry === this.registry
  }

  /** Rebuilds a ready statement's codecs from the current registry, introspecting its types again if needed. */
  refreshCodecs(st: Statement, cb: (err: SessionError | undefined) => void): void {
    const unknown = this.unknownTypes(st)
    const build = () => {
      this.buildCodecs(st)
      cb(undefined)
    }
    if (unknown.length === 0) build()
    else this.introspect(unknown, (err) => (err ? cb(err) : build()))
  }

  /** Forgets every cached statement and description (after DISCARD ALL, or on reloadSchemaState). */
  clearStatements(closeOnServer: boolean): void {
    for (const st of this.statements.values()) {
      if (closeOnServer && st.state === "ready") this.closeStatement(st.name)
    }
    for (const cache of [this.statements, this.descriptions, this.builtins]) {
      for (const [sql, st] of cache) if (st.state !== "preparing") cache.delete(sql)
    }
  }

  protected closeStatement(name: string): void {
    if (this.closed) return
    const r: Request = {
      abandoned: false,
      onSettled: undefined,
      handle() {},
      done() {},
      fail() {}
    }
    this.send(r, (w) => w.close("S", name).sync())
  }

  protected prepare(st: Statement): void {
    // NUL, lone surrogates, COPY FROM STDIN/TO STDOUT: refused before anything is sent (once per statement)
    const refused = checkStatementText(st.sql)
    if (refused !== undefined) {
      this.statementFailed(st, refused)
      return
    }
    let error: SessionError | undefined
    const self = this
    const r: Request = {
      abandoned: false,
      onSettled: undefined,
      handle(type, buf, start, end) {
        switch (type) {
          case B.ParameterDescription:
            st.paramOids = Reader.parseParameterDescription(buf, start, end)
            return
          case B.RowDescription:
            st.fields = Reader.parseRowDescription(buf, start, end)
            return
          case B.ErrorResponse:
            error ??= serverError(buf, start, end, st.sql)
            return
          case B.ParseComplete:
          case B.NoData:
            return
          default:
            // rows or results in answer to Parse/Describe: the stream is out of step
            throw new Reader.ProtocolViolation(`message 0x${type.toString(16)} in answer to Parse/Describe`)
        }
      },
      done() {
        // a duplicate name at Parse: the driver named it, say what to do behind a pooler
        if (error) self.statementFailed(st, noteDriverStatement(error, st.name))
        else self.resolveTypes(st)
      },
      fail(e) {
        self.statementFailed(st, error ?? e)
      }
    }
    this.send(r, (w) => w.parse(st.name, st.sql).describe("S", st.name).sync())
  }

  protected statementFailed(st: Statement, error: SessionError): void {
    st.state = "failed"
    const cache = this.cacheOf(st)
    if (cache.get(st.sql) === st) cache.delete(st.sql)
    const waiters = st.waiters
    st.waiters = []
    for (const w of waiters) safeCall(() => w(error))
  }

  /**
   * Introspects unknown type OIDs if needed, then builds the statement's
   * codecs. Checked again after introspecting: the session may have
   * forgotten its types meanwhile (once; then unknown types read as text).
   */
  protected resolveTypes(st: Statement, again = true): void {
    // the driver's own queries: catalog types only, never introspected (an unknown one is read as text)
    if (st.builtin) {
      this.finishStatement(st)
      return
    }
    const unknown = this.unknownTypes(st)
    if (unknown.length === 0 || !again) {
      this.finishStatement(st)
      return
    }
    this.introspect(unknown, (err) => {
      if (err) this.statementFailed(st, err)
      else this.resolveTypes(st, false)
    })
  }

  /**
   * Whether the catalog describes the introspected types `oids` (and the
   * types they are built from) as the registry knows them: `cb(false)` when
   * one changed or is gone. A failed catalog query counts as current.
   */
  typesCurrent(oids: ReadonlyArray<number>, cb: (current: boolean) => void): void {
    const registry = this.registry
    this.internalQuery(TypeRegistry.INTROSPECT_SQL, [oids.map(String)], (err, result) => {
      if (err !== undefined || result === undefined) return cb(true)
      cb(registry.isCurrent(result.rows.map((row) => toIntrospected(row as PgRecord.Record)), oids))
    })
  }

  /** The parameter and column types of a statement that the registry must introspect first. */
  protected unknownTypes(st: Statement): Array<number> {
    const unknown = new Set<number>()
    for (const oid of st.paramOids) if (this.registry.needsIntrospection(oid)) unknown.add(oid)
    for (const f of st.fields) if (this.registry.needsIntrospection(f.typeOid)) unknown.add(f.typeOid)
    return [...unknown]
  }

  /** Fetches pg_type rows for `oids` and registers their codecs. */
  introspect(oids: ReadonlyArray<number>, cb: (err: SessionError | undefined) => void): void {
    this.internalQuery(TypeRegistry.INTROSPECT_SQL, [oids.map(String)], (err, result) => {
      if (err) {
        cb(err)
        return
      }
      try {
        this.registry.addIntrospected(
          result!.rows.map((row) => toIntrospected(row as PgRecord.Record)),
          oids
        )
        // OIDs the catalog does not know stay text; mark them as seen
        cb(undefined)
      } catch (e) {
        cb(new Errors.ProtocolError({ message: `could not build codecs for types ${oids.join(", ")}: ${String(e)}`, cause: e }))
      }
    })
  }

  protected finishStatement(st: Statement): void {
    this.buildCodecs(st)
    st.state = "ready"
    st.preparedAt = Date.now()
    const waiters = st.waiters
    st.waiters = []
    for (const w of waiters) safeCall(() => w(undefined))
  }

  /** Builds a statement's parameter and result codecs, formats and row factory from its registry. */
  protected buildCodecs(st: Statement): void {
    const reg = this.registryOf(st)
    st.registry = reg
    st.paramCodecs = st.paramOids.map((oid) => reg.get(oid) ?? reg.fallback)
    st.paramFormats = st.paramCodecs.map((c) => c.format)
    st.resultCodecs = st.fields.map((f) => reg.get(f.typeOid) ?? reg.fallback)
    st.resultFormats = st.resultCodecs.map((c) => c.format)
    if (st.resultFormats.length > 0 && st.resultFormats.every((f) => f === st.resultFormats[0])) {
      st.resultFormats = [st.resultFormats[0]!]
    }
    if (st.paramFormats.length > 0 && st.paramFormats.every((f) => f === st.paramFormats[0])) {
      st.paramFormats = [st.paramFormats[0]!]
    }
    // also for no columns: `SELECT FROM t` gives empty Records, as asyncpg's
    const shape = PgRecord.makeShape(st.fields.map((f) => f.name))
    const factory = st.builtin ? undefined : this.settings.recordFactory
    st.make = factory ? (values) => factory(shape, values) : shape.make
  }

  /** Encodes arguments with the statement's parameter codecs. */
  encodeArgs(st: Statement, args: ReadonlyArray<unknown>): Array<WireValue> | SessionError {
    try {
      return this.encodeArgsUnchecked(st, args)
    } catch (e) {
      // the argument list itself threw (a Proxy, a throwing getter): a typed error, never a defect
      return new Errors.DataError({
        message: `the query arguments could not be read (${thrownMessage(e)}); pass a plain array of values`
      })
    }
  }

  protected encodeArgsUnchecked(st: Statement, args: ReadonlyArray<unknown>): Array<WireValue> | SessionError {
    if (!Array.isArray(args)) {
      return new Errors.InterfaceError({ message: `query arguments must be an array, got ${describeValue(args)}` })
    }
    if (args.length > MAX_COUNT) {
      return new Errors.InterfaceError({
        message: `${args.length} query arguments were passed; the protocol allows at most 65,535 per statement (Bind counts are 16-bit). Pass the values as an array parameter (unnest($1::int4[])) or use copyRecordsToTable`
      })
    }
    if (args.length !== st.paramOids.length) {
      return new Errors.InterfaceError({
        message: `the statement expects ${st.paramOids.length} argument${st.paramOids.length === 1 ? "" : "s"}, ${args.length} ${args.length === 1 ? "was" : "were"} passed: ${truncate(st.sql)}`
      })
    }
    const out = new Array<WireValue>(args.length)
    for (let i = 0; i < args.length; i++) {
      const v = args[i]
      if (v === null || v === undefined) {
        out[i] = null
        continue
      }
      const codec = st.paramCodecs[i]!
      try {
        out[i] = codec.encode(v)
      } catch (e) {
        // anything may throw here (a hostile Proxy): build the error without trusting the value
        const known = e instanceof EncodeError
        const expected = known ? e.expected : codec.name
        const given = known ? e.given : `${describeValue(v)} (${thrownMessage(e)})`
        return new Errors.DataError({
          message: `invalid input for query argument $${i + 1} (type ${codec.name}): expected ${expected}, got ${given}`,
          position: i + 1,
          expected,
          given
        })
      }
    }
    return out
  }

  protected override dropStatements(failWith: SessionError | undefined): void {
  for (const cache of [this.statements, this.descriptions, this.builtins]) {
        for (const st of cache.values()) {
          if (st.state === "preparing") {
            const w = st.waiters
            st.waiters = []
            for (const f of w) safeCall(() => f(failWith))
          }
        }
        cache.clear()
      }
  }
}
