/**
 * The replicated pool's own error: no member of the set can take a request.
 */
import * as Data from "effect/Data"
import { redactDsn } from "../../Errors.js"

/**
 * No server of a replicated pool can take this request: for a write, no
 * member is a reachable primary (down, or a failover in progress); for a read
 * with `readFallback: "fail"`, no replica is in rotation. `members` says what
 * each member's last probe found.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoServerAvailableError extends Data.TaggedError("NoServerAvailableError")<{
  /** What happened and what to do. */
  readonly message: string
  /** What the request needed: a primary (`"write"`) or a replica (`"read"`). */
  readonly route: "read" | "write"
  /** One line per member: name, role, up/down, lag, last error. */
  readonly members: ReadonlyArray<string>
}> {
  constructor(args: { readonly message: string; readonly route: "read" | "write"; readonly members: ReadonlyArray<string> }) {
    super({ ...args, message: redactDsn(args.message), members: args.members.map(redactDsn) })
  }

  /** `NoServerAvailableError (write): message`. */
  override toString(): string {
    return `${this._tag} (${this.route}): ${this.message}`
  }
}
