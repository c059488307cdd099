/**
 * Transactions of the Promise facade: `await using tx = await
 * conn.transaction()` (commit with `tx.commit()`; leaving the block without
 * it rolls back) or `await conn.transaction(async (tx) => ...)` (commit when
 * the callback resolves, rollback when it throws). Inside a transaction the
 * same call opens a savepoint.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Connection from "../Connection.js"
import type * as Transaction from "../Transaction.js"
import type { Runner } from "./run.js"

/** Transaction options: isolation level, read only, deferrable. */
export type TransactionOptions = Transaction.TransactionOptions

/** An open transaction (or savepoint); `await using` rolls it back unless it was committed. */
export interface PromiseTransaction extends AsyncDisposable {
  /** true for a savepoint inside an outer transaction */
  readonly nested: boolean
  /** `"started"`, `"committed"`, `"rolledback"` or `"failed"` */
  readonly state: Transaction.TransactionState
  /** Commits (RELEASE SAVEPOINT when nested). */
  commit(): Promise<void>
  /** Rolls back (ROLLBACK TO SAVEPOINT when nested). */
  rollback(): Promise<void>
}

class PromiseTransactionImpl implements PromiseTransaction {
  constructor(
    private readonly tx: Transaction.Transaction,
    private readonly scope: Scope.Closeable,
    private readonly run: Runner
  ) {}
  get nested(): boolean {
    return this.tx.nested
  }
  get state(): Transaction.TransactionState {
    return this.tx.state
  }
  commit(): Promise<void> {
    return this.run(Effect.ensuring(this.tx.commit(), Scope.close(this.scope, Exit.void)))
  }
  rollback(): Promise<void> {
    return this.run(Effect.ensuring(this.tx.rollback(), Scope.close(this.scope, Exit.void)))
  }
  [Symbol.asyncDispose](): Promise<void> {
    // not committed: the scope closes as failed, which rolls back
    if (this.tx.state !== "started") return this.run(Scope.close(this.scope, Exit.void))
    return this.run(Scope.close(this.scope, Exit.fail("the transaction's block ended without commit()")))
  }
}

/** Opens a transaction on `conn`; the caller commits, rolls back or disposes it. */
export const begin = (conn: Connection.Connection, run: Runner, options?: TransactionOptions): Promise<PromiseTransaction> =>
  run(
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const exit = yield* Effect.exit(Scope.provide(conn.transaction(options), scope))
      if (Exit.isFailure(exit)) {
        yield* Scope.close(scope, exit)
        return yield* Effect.failCause(exit.cause)
      }
      return new PromiseTransactionImpl(exit.value, scope, run) as PromiseTransaction
    })
  )

/** Runs `f` in a transaction: commit when it resolves, rollback when it throws (the error is rethrown). */
export const within = async <A>(
  conn: Connection.Connection,
  run: Runner,
  f: (tx: PromiseTransaction) => Promise<A>,
  options?: TransactionOptions
): Promise<A> => {
  const tx = await begin(conn, run, options)
  let result: A
  try {
    result = await f(tx)
  } catch (e) {
    // the callback's error is what the caller sees, also when the rollback fails (a dead connection)
    await Promise.resolve(tx.state === "started" ? tx.rollback() : tx[Symbol.asyncDispose]()).catch(() => undefined)
    throw e
  }
  if (tx.state === "started") await tx.commit()
  else await tx[Symbol.asyncDispose]()
  return result
}
