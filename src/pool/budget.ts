/**
 * A waiting caller's time budget: its deadline and where it came from (the
 * caller's own timeout, the pool's acquireTimeout, or commandTimeout for a
 * pool-level query), which decides the error it gets when it runs out.
 */
import * as Errors from "../Errors.js"
import type { PoolCore } from "./core.js"

/** Where a waiting caller's deadline came from: it decides the error it gets. */
export interface Budget {
  /** performance.now() deadline, or 0 */
  readonly deadline: number
  readonly timeoutMs: number
  /** "command": the query's own timeout or commandTimeout (CommandTimeoutError); "acquire": AcquireTimeoutError */
  readonly kind: "command" | "acquire"
}

/** No deadline at all. */
export const NO_BUDGET: Budget = { deadline: 0, timeoutMs: 0, kind: "acquire" }

/** A caller whose own timeout was 0 or below: it does not wait at all. */
export const SPENT: Budget = { deadline: 0, timeoutMs: 0, kind: "acquire" }

/**
 * The budget of a caller: its own timeout when it gave one (`ownMs`, as
 * `callTimeoutMillis` reads it: 0 for Infinity, none, whatever the pool's
 * defaults), else the pool's acquireTimeout, else (pool-level queries only)
 * commandTimeout. A spent own timeout (0 or below) is the caller's to handle
 * before: it never waits.
 */
export const budgetOf = (ownMs: number | undefined, commandFallback: boolean, acquireTimeoutMs: number, commandTimeoutMs: number): Budget => {
  if (ownMs !== undefined) {
    return ownMs > 0 ? { deadline: performance.now() + ownMs, timeoutMs: ownMs, kind: commandFallback ? "command" : "acquire" } : NO_BUDGET
  }
  if (acquireTimeoutMs > 0) return { deadline: performance.now() + acquireTimeoutMs, timeoutMs: acquireTimeoutMs, kind: "acquire" }
  if (commandFallback && commandTimeoutMs > 0) {
    return { deadline: performance.now() + commandTimeoutMs, timeoutMs: commandTimeoutMs, kind: "command" }
  }
  return NO_BUDGET
}

/** The error of a caller whose budget ran out while it waited, with the pool's state in the message. */
export const timeoutError = (core: PoolCore, budget: Budget, sql: string | undefined): Errors.AcquireTimeoutError | Errors.CommandTimeoutError => {
  const state = `pool of ${core.config.maxSize}: ${core.slots.size} open, ${core.borrowed} busy, ${core.waiting} waiting`
  return budget.kind === "command"
    ? new Errors.CommandTimeoutError({
        message: `the query did not get a connection within its ${budget.timeoutMs} ms timeout (${state}); raise the timeout or maxSize, or hold connections for less time`,
        timeoutMs: budget.timeoutMs,
        query: sql
      })
    : new Errors.AcquireTimeoutError({
        message: `no connection became free within ${budget.timeoutMs} ms (${state}); raise the timeout or maxSize, or hold connections for less time`,
        timeoutMs: budget.timeoutMs
      })
}

/** The query's options with its timeout shortened by the time it waited. */
export const remaining = <O extends { readonly timeout?: unknown }>(options: O | undefined, budget: Budget): O | undefined => {
  if (budget.kind !== "command" || budget.deadline === 0) return options
  const left = Math.max(1, budget.deadline - performance.now())
  return { ...options, timeout: left } as O
}
