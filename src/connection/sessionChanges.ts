/**
 * What a statement may leave behind in the session for a pool's reset to
 * clear: command tags that change session state (SET, LISTEN, cursors...)
 * and functions whose effect outlives the query (advisory locks,
 * set_config). The session marks itself `stateDirty` by these.
 *
 * Internal: not exported by the package.
 */

/** Functions whose effect outlives the query: a pool must reset after them. */
export const SESSION_FUNCTIONS = /pg_advisory_(?:xact_)?lock|pg_advisory_lock|set_config|pg_try_advisory_lock|dblink_connect/i

/** Command tags that change session state (cheap: most tags fail the first test). */
export const changesSession = (tag: string): boolean => {
  switch (tag.charCodeAt(0)) {
    case 0x53: // S
      return tag === "SET"
    case 0x52: // R
      return tag === "RESET"
    case 0x4c: // L
      return tag === "LISTEN"
    case 0x55: // U
      return tag === "UNLISTEN"
    case 0x44: // D
      return tag === "DECLARE CURSOR" || tag === "DEALLOCATE" || tag === "DEALLOCATE ALL" || tag === "DISCARD ALL"
    case 0x50: // P
      return tag === "PREPARE"
    default:
      return false
  }
}

/** Command tags after which named statements may be gone (the pool's reset statements among them). */
export const dropsStatements = (tag: string): boolean => tag === "DEALLOCATE ALL" || tag === "DISCARD ALL" || tag === "DEALLOCATE"
