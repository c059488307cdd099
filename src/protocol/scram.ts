/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) and MD5 password maths for the
 * PostgreSQL authentication exchange, on `node:crypto`. Pure: no sockets.
 *
 * The exchange, as driven by the connection engine:
 *
 * 1. `AuthenticationSASL` → {@link scramStart} → send `clientFirstMessage`
 *    in SASLInitialResponse.
 * 2. `AuthenticationSASLContinue` → {@link scramContinue} → send
 *    `clientFinalMessage` in SASLResponse, keep `expectedServerSignature`.
 * 3. `AuthenticationSASLFinal` → {@link scramFinish} (throws unless the
 *    server proved it knows the password).
 *
 * Passwords are prepared like PostgreSQL's `pg_saslprep` (see
 * {@link saslPrep}); the user name is not sent (PostgreSQL takes it from the
 * startup message), so the client-first message carries `n=`.
 *
 * @since 0.1.0
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto"

/** Thrown for a malformed or unexpected server message, or a failed server proof. */
export class ScramError extends Error {
  constructor(message: string) {
    super(message)
    this.name = "ScramError"
  }
}

/** The SASL mechanisms we implement. */
export type ScramMechanism = "SCRAM-SHA-256" | "SCRAM-SHA-256-PLUS"

/** Channel-binding data for SCRAM-SHA-256-PLUS (RFC 5929 `tls-server-end-point`). */
export interface ChannelBindingData {
  readonly type: "tls-server-end-point"
  /** {@link tlsServerEndPointHash} of the server certificate. */
  readonly data: Buffer
}

/** What {@link scramContinue} needs from {@link scramStart}. */
export interface ScramState {
  readonly mechanism: ScramMechanism
  readonly clientNonce: string
  /** GS2 header, e.g. `n,,`, `y,,` or `p=tls-server-end-point,,`. */
  readonly gs2Header: string
  readonly clientFirstMessageBare: string
  /** Base64 of GS2 header + channel-binding data, the `c=` attribute. */
  readonly channelBindingAttr: string
}

/** The result of {@link scramStart}. */
export interface ScramStart {
  readonly clientFirstMessage: string
  readonly state: ScramState
}

/** The result of {@link scramContinue}. */
export interface ScramContinue {
  readonly clientFinalMessage: string
  /** Base64 server signature that the server-final message must carry. */
  readonly expectedServerSignature: string
}

/** Number of random bytes in a generated client nonce (libpq uses 18). */
const NONCE_BYTES = 18

/** RFC 5802 `printable`: %x21-2B / %x2D-7E (no comma). */
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/

/** Strict base64 (RFC 4648, padded). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** RFC 5802 `saslname`: `,` and `=` are written `=2C` and `=3D`. */
const encodeSaslName = (name: string): string => name.replace(/=/g, "=3D").replace(/,/g, "=2C")

/**
 * Starts an exchange: builds the client-first message.
 *
 * With `SCRAM-SHA-256-PLUS`, `channelBinding` is required (GS2 flag `p`).
 * With `SCRAM-SHA-256` and `channelBinding` given, the flag is `y` ("I could
 * bind, but I think you cannot"), which lets the server detect a downgrade.
 * `nonce` is for tests; by default 18 random bytes, base64.
 * `username` is normally empty: PostgreSQL uses the startup-message user.
 *
 * @throws ScramError for a bad nonce or missing channel-binding data
 */
export const scramStart = (
  mechanism: ScramMechanism,
  nonce?: string,
  channelBinding?: ChannelBindingData,
  username = ""
): ScramStart => {
  const clientNonce = nonce ?? randomBytes(NONCE_BYTES).toString("base64")
  if (!PRINTABLE.test(clientNonce)) {
    throw new ScramError("the client nonce must be printable ASCII without commas")
  }
  let gs2Header: string
  let cbData: Buffer = Buffer.alloc(0)
  if (mechanism === "SCRAM-SHA-256-PLUS") {
    if (channelBinding === undefined) {
      throw new ScramError("SCRAM-SHA-256-PLUS needs channel-binding data (tls-server-end-point)")
    }
    gs2Header = `p=${channelBinding.type},,`
    cbData = channelBinding.data
  } else {
    gs2Header = channelBinding === undefined ? "n,," : "y,,"
  }
  const clientFirstMessageBare = `n=${encodeSaslName(username)},r=${clientNonce}`
  return {
    clientFirstMessage: gs2Header + clientFirstMessageBare,
    state: {
      mechanism,
      clientNonce,
      gs2Header,
      clientFirstMessageBare,
      channelBindingAttr: Buffer.concat([Buffer.from(gs2Header, "utf8"), cbData]).toString("base64")
    }
  }
}

/** The parsed server-first message. */
export interface ServerFirst {
  readonly nonce: string
  readonly salt: Buffer
  readonly iterations: number
}

/**
 * Parses `r=<nonce>,s=<base64 salt>,i=<iterations>[,extensions]` and checks
 * it against our nonce.
 *
 * @throws ScramError when malformed
 */
export const parseServerFirst = (message: string, clientNonce: string): ServerFirst => {
  if (message.startsWith("e=")) {
    throw new ScramError(`the server rejected the exchange: ${message.slice(2)}`)
  }
  const parts = message.split(",")
  const attr = (index: number, name: string): string => {
    const part = parts[index]
    if (part === undefined || !part.startsWith(`${name}=`)) {
      throw new ScramError(`malformed server-first message: expected attribute "${name}" in position ${index + 1}`)
    }
    return part.slice(name.length + 1)
  }
  if (message.startsWith("m=")) {
    throw new ScramError("the server-first message has a mandatory extension (m=) that is not supported")
  }
  const nonce = attr(0, "r")
  const saltB64 = attr(1, "s")
  const iterationsText = attr(2, "i")
  if (!nonce.startsWith(clientNonce) || nonce.length <= clientNonce.length) {
    throw new ScramError("the server nonce does not extend the client nonce")
  }
  if (!PRINTABLE.test(nonce)) {
    throw new ScramError("the server nonce contains invalid characters")
  }
  if (saltB64 === "" || !BASE64.test(saltB64)) {
    throw new ScramError("the server sent an invalid salt (not base64)")
  }
  if (!/^[1-9]\d{0,9}$/.test(iterationsText)) {
    throw new ScramError(`invalid iteration count "${iterationsText}": expected a positive integer`)
  }
  const iterations = Number(iterationsText)
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new ScramError(`invalid iteration count "${iterationsText}": expected a positive integer`)
  }
  return { nonce, salt: Buffer.from(saltB64, "base64"), iterations }
}

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac("sha256", key).update(data).digest()
const sha256 = (data: Buffer): Buffer => createHash("sha256").update(data).digest()

const xor = (a: Buffer, b: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/**
 * SaltedPassword = Hi(Normalize(password), salt, i), i.e. PBKDF2-HMAC-SHA-256.
 * Synchronous: with PostgreSQL's default 4096 iterations it costs about a
 * millisecond or two.
 */
export const saltedPassword = (password: string, salt: Buffer, iterations: number): Buffer =>
  pbkdf2Sync(saslPrepBytes(password), salt, iterations, 32, "sha256")

/**
 * Answers the server-first message: computes the client proof and the server
 * signature we expect in the server-final message.
 *
 * @throws ScramError when the server message is malformed
 */
export const scramContinue = (state: ScramState, serverFirstMessage: string, password: string): ScramContinue => {
  const { iterations, nonce, salt } = parseServerFirst(serverFirstMessage, state.clientNonce)
  const salted = saltedPassword(password, salt, iterations)
  const clientKey = hmac(salted, "Client Key")
  const storedKey = sha256(clientKey)
  const withoutProof = `c=${state.channelBindingAttr},r=${nonce}`
  const authMessage = `${state.clientFirstMessageBare},${serverFirstMessage},${withoutProof}`
  const clientProof = xor(clientKey, hmac(storedKey, authMessage))
  const serverSignature = hmac(hmac(salted, "Server Key"), authMessage)
  return {
    clientFinalMessage: `${withoutProof},p=${clientProof.toString("base64")}`,
    expectedServerSignature: serverSignature.toString("base64")
  }
}

/**
 * Checks the server-final message (`v=<base64 signature>`).
 *
 * @throws ScramError on `e=<error>`, a malformed message, or a signature mismatch
 */
export const scramFinish = (expectedServerSignature: string, serverFinalMessage: string): void => {
  const first = serverFinalMessage.split(",")[0] ?? ""
  if (first.startsWith("e=")) {
    throw new ScramError(`the server rejected the exchange: ${first.slice(2)}`)
  }
  if (!first.startsWith("v=")) {
    throw new ScramError("malformed server-final message: expected v=<signature>")
  }
  const got = Buffer.from(first.slice(2), "base64")
  const expected = Buffer.from(expectedServerSignature, "base64")
  if (!BASE64.test(first.slice(2)) || got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new ScramError("the server signature does not match: the server does not know the password")
  }
}

/**
 * PostgreSQL's MD5 password response: `"md5" + md5(md5(password + user) + salt)`
 * in lowercase hex, where the inner digest is hashed as its hex text.
 */
export const md5Password = (user: string, password: string, salt: Buffer): string => {
  const inner = createHash("md5").update(password, "utf8").update(user, "utf8").digest("hex")
  return "md5" + createHash("md5").update(inner, "latin1").update(salt).digest("hex")
}

// ---------------------------------------------------------------------------
// Channel binding: tls-server-end-point (RFC 5929 §4.1)
// ---------------------------------------------------------------------------

/** Signature-algorithm OIDs → the digest used for tls-server-end-point (MD5/SHA-1 upgrade to SHA-256). */
const signatureDigests: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.4": "sha256", // md5WithRSAEncryption
  "1.2.840.113549.1.1.5": "sha256", // sha1WithRSAEncryption
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.113549.1.1.14": "sha224",
  "1.2.840.10045.4.1": "sha256", // ecdsa-with-SHA1
  "1.2.840.10045.4.3.1": "sha224",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.2.840.10040.4.3": "sha256", // dsa-with-sha1
  "2.16.840.1.101.3.4.3.1": "sha224", // dsa-with-sha224
  "2.16.840.1.101.3.4.3.2": "sha256" // dsa-with-sha256
}

/** Maps an algorithm name (`"sha256"`, `"RSA-SHA384"`, `"ecdsa-with-SHA512"`, `"sha1WithRSAEncryption"`) to a digest. */
const digestFromName = (name: string): string | undefined => {
  const n = name.toLowerCase().replace(/[-_]/g, "")
  if (n.includes("sha512")) return "sha512"
  if (n.includes("sha384")) return "sha384"
  if (n.includes("sha256")) return "sha256"
  if (n.includes("sha224")) return "sha224"
  if (n.includes("sha1") || n.includes("md5")) return "sha256"
  return undefined
}

/** Reads one DER TLV header at `offset`; returns the tag, content start and content end. */
const derHeader = (der: Buffer, offset: number): { tag: number; start: number; end: number } => {
  if (offset + 2 > der.length) throw new ScramError("malformed certificate (truncated DER)")
  const tag = der[offset]!
  let len = der[offset + 1]!
  let start = offset + 2
  if (len & 0x80) {
    const count = len & 0x7f
    if (count === 0 || count > 4 || start + count > der.length) throw new ScramError("malformed certificate (DER length)")
    len = 0
    for (let i = 0; i < count; i++) len = len * 256 + der[start + i]!
    start += count
  }
  if (start + len > der.length) throw new ScramError("malformed certificate (truncated DER)")
  return { tag, start, end: start + len }
}

/** Decodes a DER OBJECT IDENTIFIER's content into dotted form. */
const decodeOid = (bytes: Buffer): string => {
  const arcs: Array<number> = []
  let value = 0
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f)
    if ((b & 0x80) === 0) {
      arcs.push(value)
      value = 0
    }
  }
  const first = arcs.shift() ?? 0
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80]
  return [...head, ...arcs].join(".")
}

/**
 * The certificate's `signatureAlgorithm` OID, read from the DER:
 * Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, ... }, signature }.
 */
export const certificateSignatureOid = (der: Buffer): string => {
  const cert = derHeader(der, 0)
  if (cert.tag !== 0x30) throw new ScramError("malformed certificate (not a DER SEQUENCE)")
  const tbs = derHeader(der, cert.start)
  const alg = derHeader(der, tbs.end)
  if (alg.tag !== 0x30) throw new ScramError("malformed certificate (no signature algorithm)")
  const oid = derHeader(der, alg.start)
  if (oid.tag !== 0x06) throw new ScramError("malformed certificate (no signature algorithm OID)")
  return decodeOid(der.subarray(oid.start, oid.end))
}

/**
 * RFC 5929 `tls-server-end-point` channel-binding data: the hash of the
 * server's DER certificate (`tlsSocket.getPeerCertificate().raw`) with the
 * certificate's signature digest, MD5 and SHA-1 replaced by SHA-256.
 * `signatureAlgorithm` overrides detection (e.g. `"sha384"`).
 *
 * @throws ScramError when the digest cannot be determined (e.g. Ed25519 or
 *   RSASSA-PSS certificates, which PostgreSQL cannot bind either)
 */
export const tlsServerEndPointHash = (peerCertificateRaw: Buffer, signatureAlgorithm?: string): Buffer => {
  let digest: string | undefined
  if (signatureAlgorithm !== undefined) {
    digest = signatureDigests[signatureAlgorithm] ?? digestFromName(signatureAlgorithm)
  } else {
    const oid = certificateSignatureOid(peerCertificateRaw)
    digest = signatureDigests[oid]
    if (digest === undefined) {
      throw new ScramError(`channel binding is not possible with this certificate's signature algorithm (OID ${oid})`)
    }
  }
  if (digest === undefined) {
    throw new ScramError(`channel binding is not possible with signature algorithm "${signatureAlgorithm}"`)
  }
  return createHash(digest).update(peerCertificateRaw).digest()
}

// ---------------------------------------------------------------------------
// SASLprep (RFC 4013), as PostgreSQL's pg_saslprep applies it
// ---------------------------------------------------------------------------

type Ranges = ReadonlyArray<readonly [number, number]>

const inRanges = (ranges: Ranges, cp: number): boolean => ranges.some(([lo, hi]) => cp >= lo && cp <= hi)

/** RFC 3454 C.1.2: non-ASCII space characters, mapped to U+0020. */
const nonAsciiSpace: Ranges = [[0x00a0, 0x00a0], [0x1680, 0x1680], [0x2000, 0x200b], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000]]

/** RFC 3454 B.1: commonly mapped to nothing. */
const mappedToNothing: Ranges = [
  [0x00ad, 0x00ad], [0x034f, 0x034f], [0x1806, 0x1806], [0x180b, 0x180d], [0x200b, 0x200d],
  [0x2060, 0x2060], [0xfe00, 0xfe0f], [0xfeff, 0xfeff]
]

/** RFC 3454 C.1.2, C.2.1, C.2.2, C.3–C.9: prohibited output. */
const prohibited: Ranges = [
  ...nonAsciiSpace,
  [0x0000, 0x001f], [0x007f, 0x009f], // C.2.1, C.2.2 (C1 controls)
  [0x06dd, 0x06dd], [0x070f, 0x070f], [0x180e, 0x180e], [0x200c, 0x200d], [0x2028, 0x2029],
  [0x2060, 0x2063], [0x206a, 0x206f], [0xfeff, 0xfeff], [0xfff9, 0xfffc], [0x1d173, 0x1d17a], // C.2.2
  [0xe000, 0xf8ff], [0xf0000, 0xffffd], [0x100000, 0x10fffd], // C.3 private use
  [0xfdd0, 0xfdef], // C.4 non-characters (plus U+xFFFE/U+xFFFF, checked below)
  [0xd800, 0xdfff], // C.5 surrogates
  [0xfff9, 0xfffd], // C.6
  [0x2ff0, 0x2ffb], // C.7
  [0x0340, 0x0341], [0x200e, 0x200f], [0x202a, 0x202e], // C.8
  [0xe0001, 0xe0001], [0xe0020, 0xe007f] // C.9
]

/** RFC 3454 D.1: characters with bidirectional property R or AL. */
const randAL: Ranges = [
  [0x05be, 0x05be], [0x05c0, 0x05c0], [0x05c3, 0x05c3], [0x05d0, 0x05ea], [0x05f0, 0x05f4], [0x061b, 0x061b],
  [0x061f, 0x061f], [0x0621, 0x063a], [0x0640, 0x064a], [0x066d, 0x066f], [0x0671, 0x06d5], [0x06dd, 0x06dd],
  [0x06e5, 0x06e6], [0x06fa, 0x06fe], [0x0700, 0x070d], [0x0710, 0x0710], [0x0712, 0x072c], [0x0780, 0x07a5],
  [0x07b1, 0x07b1], [0x200f, 0x200f], [0xfb1d, 0xfb1d], [0xfb1f, 0xfb28], [0xfb2a, 0xfb36], [0xfb38, 0xfb3c],
  [0xfb3e, 0xfb3e], [0xfb40, 0xfb41], [0xfb43, 0xfb44], [0xfb46, 0xfbb1], [0xfbd3, 0xfd3d], [0xfd50, 0xfd8f],
  [0xfd92, 0xfdc7], [0xfdf0, 0xfdfc], [0xfe70, 0xfe74], [0xfe76, 0xfefc]
]

const isProhibited = (cp: number): boolean => inRanges(prohibited, cp) || (cp & 0xfffe) === 0xfffe

/** Approximates RFC 3454 D.2 (bidi L): letters and spacing marks that are not R/AL. */
const isLCat = (ch: string, cp: number): boolean => !inRanges(randAL, cp) && /[\p{L}\p{Mc}]/u.test(ch)

/**
 * SASLprep (RFC 4013) as PostgreSQL's `pg_saslprep` does it, returning
 * `undefined` where PostgreSQL would give up and use the raw password bytes:
 *
 * - pure ASCII is returned unchanged (PostgreSQL skips SASLprep for it);
 * - non-ASCII spaces become U+0020, "mapped to nothing" characters go;
 * - NFKC normalization (the runtime's current Unicode tables);
 * - prohibited characters (RFC 3454 C.1.2–C.9) or a bidi violation → `undefined`;
 * - unassigned code points → `undefined`. This uses the runtime's current
 *   Unicode (`\p{Cn}`), not Unicode 3.2 as the RFC does: a password holding a
 *   character assigned after 3.2 *and* something NFKC changes may differ from
 *   the server's preparation. Such passwords are very rare.
 */
export const saslPrep = (password: string): string | undefined => {
  if (/^[\x00-\x7f]*$/.test(password)) return password
  let mapped = ""
  for (const ch of password) {
    const cp = ch.codePointAt(0)!
    if (inRanges(nonAsciiSpace, cp)) mapped += " "
    else if (!inRanges(mappedToNothing, cp)) mapped += ch
  }
  const normalized = mapped.normalize("NFKC")
  let hasRandAL = false
  let hasLCat = false
  for (const ch of normalized) {
    const cp = ch.codePointAt(0)!
    if (isProhibited(cp) || /\p{Cn}/u.test(ch)) return undefined
    if (inRanges(randAL, cp)) hasRandAL = true
    else if (isLCat(ch, cp)) hasLCat = true
  }
  if (hasRandAL) {
    const chars = [...normalized]
    const first = chars[0]!.codePointAt(0)!
    const last = chars[chars.length - 1]!.codePointAt(0)!
    if (hasLCat || !inRanges(randAL, first) || !inRanges(randAL, last)) return undefined
  }
  return normalized
}

/** The bytes fed to PBKDF2: the SASLprep'd password, or the raw UTF-8 when SASLprep fails. */
const saslPrepBytes = (password: string): Buffer => Buffer.from(saslPrep(password) ?? password, "utf8")
