/**
 * Which pool-level statements may share a connection ("lane") with others:
 * plain DML/SELECT that cannot change session state by itself. This is only
 * a routing guess; the reset on release is never skipped because of it.
 */

const SHAREABLE = /^\s*(?:\(\s*)*(?:select|insert|update|delete|with|values|table|merge)\b/i
const SESSION_CHANGING = /pg_advisory|set_config|\bfor\s+(?:update|share|no\s+key|key)\b|\binto\s+temp|\bcreate\b|\blisten\b|\bnotify\b|dblink|lo_/i

/** Whether `sql` may run on a shared lane; answers are cached per text in `cache`. */
export const isShareable = (cache: Map<string, boolean>, sql: string): boolean => {
  let v = cache.get(sql)
  if (v === undefined) {
    v = SHAREABLE.test(sql) && !SESSION_CHANGING.test(sql) && !sql.includes(";")
    if (cache.size > 1000) cache.clear()
    cache.set(sql, v)
  }
  return v
}
