/**
 * Masking of secrets (passwords in connection strings) in messages and in
 * error causes, so that no error of effect-pg ever prints a password.
 *
 * @since 0.1.0
 */
import * as Redacted from "effect/Redacted"

const MASK = "***"

// scheme://user:password@host — the password runs to the last "@" of the token.
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s:@/?#]*):(\S*)@/gi
// user:password@host without a scheme (no "/" or ":" in either part).
const BARE_USERINFO = /(^|[\s'"(<,=])([\w.%+-]+):([^\s@/:]+)@(?=[\w.[\]-])/g
// password=secret, password = 'quoted secret', ?password=secret&..., sslpassword=...
const KEY_VALUE =
  /((?:ssl)?pass(?:word|wd)?|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&;,'")]*)/gi
// "password": "secret", password: 'secret' (JSON and util.inspect output)
const KEY_COLON =
  /(["']?(?:(?:ssl)?pass(?:word|wd)?|pwd)["']?\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')/gi

// CREATE/ALTER ROLE ... [ENCRYPTED] PASSWORD 'secret' in SQL text (standard and E'' strings)
const SQL_PASSWORD = /(\bpassword\s+)((?:E|e)?'(?:[^'\\]|''|\\.)*')/gi

const SECRET_KEY = /^(?:(?:ssl)?pass(?:word|wd)?|pwd|secret)$/i

/**
 * Masks passwords in any string: the `user:password@` part of a URL-style DSN
 * (`postgres://user:***@host/db`), `password=...` pairs of keyword DSNs and
 * query strings, and `"password": "..."` in JSON-like text.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactDsn = (str: string): string => {
  if (str.length === 0) return str
  return str
    .replace(URL_USERINFO, (_m, scheme: string, user: string) => `${scheme}${user}:${MASK}@`)
    .replace(BARE_USERINFO, (_m, pre: string, user: string) => `${pre}${user}:${MASK}@`)
    .replace(KEY_VALUE, (_m, key: string, eq: string) => `${key}${eq}${MASK}`)
    .replace(KEY_COLON, (_m, key: string) => `${key}"${MASK}"`)
    .replace(SQL_PASSWORD, (_m, key: string) => `${key}'${MASK}'`)
}

const MAX_DEPTH = 4

const sanitize = (value: unknown, depth: number, seen: WeakMap<object, unknown>): unknown => {
  switch (typeof value) {
    case "string":
      return redactDsn(value)
    case "object":
      break
    case "function":
    case "symbol":
      return undefined
    default:
      return value
  }
  if (value === null) return value
  if (Redacted.isRedacted(value)) return value
  const cached = seen.get(value)
  if (cached !== undefined) return cached
  if (depth >= MAX_DEPTH) return "[omitted]"
  if (value instanceof Error) {
    // Same prototype, so `instanceof TypeError` etc. still hold; every own
    // property (message, stack, code, input, cause, errors, ...) is copied
    // through `sanitize` with its enumerability kept.
    const copy = Object.create(Object.getPrototypeOf(value)) as Record<PropertyKey, unknown>
    seen.set(value, copy)
    for (const key of Object.getOwnPropertyNames(value)) {
      const desc = Object.getOwnPropertyDescriptor(value, key)
      if (desc === undefined || !("value" in desc)) continue
      Object.defineProperty(copy, key, {
        value: SECRET_KEY.test(key) ? MASK : sanitize(desc.value, depth + 1, seen),
        enumerable: desc.enumerable ?? false,
        writable: true,
        configurable: true
      })
    }
    return copy
  }
  if (Array.isArray(value)) {
    const copy: Array<unknown> = []
    seen.set(value, copy)
    for (const item of value) copy.push(sanitize(item, depth + 1, seen))
    return copy
  }
  if (value instanceof Date || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return value
  }
  // Plain objects and other instances (option bags, URL objects, ...) become
  // plain copies of their enumerable properties, secrets masked.
  if (value instanceof URL) return redactDsn(value.href)
  const copy: Record<string, unknown> = {}
  seen.set(value, copy)
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key]
    copy[key] = SECRET_KEY.test(key) && v !== undefined && v !== null && !Redacted.isRedacted(v)
      ? MASK
      : sanitize(v, depth + 1, seen)
  }
  return copy
}

/**
 * Returns a copy of an error cause that is safe to print: strings are passed
 * through {@link redactDsn}; errors are copied (same prototype, same own
 * properties) with message, stack and every string property redacted;
 * objects are copied with `password`-like keys masked. `Redacted` values are
 * kept as they are.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactCause = (cause: unknown): unknown => sanitize(cause, 0, new WeakMap())
