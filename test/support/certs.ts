/**
 * Throwaway TLS material for tests, made with the `openssl` CLI in a temp
 * directory: a CA, a server certificate signed by it (SAN
 * `IP:127.0.0.1, DNS:localhost` by default), and an unrelated second CA to
 * show that verification really checks the chain. The directory is removed
 * when the test's Scope closes.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** A certificate and its key, as files and as PEM text. */
export interface CertFiles {
  readonly certPath: string
  readonly keyPath: string
  readonly cert: string
  readonly key: string
}

/** Everything {@link makeCerts} creates. */
export interface TestCerts {
  readonly dir: string
  /** the CA that signed `server` */
  readonly ca: CertFiles
  /** the server certificate, for `subjectAltName` */
  readonly server: CertFiles
  /** a CA that signed nothing we use: verifying against it must fail */
  readonly otherCa: CertFiles
  /**
   * Another certificate with the same names signed by the same CA, with its
   * own key: what a man in the middle holding a mis-issued certificate has.
   * It passes verify-full; only channel binding tells it from `server`.
   */
  readonly impostor: CertFiles
  /** the `subjectAltName` of `server`, e.g. `IP:127.0.0.1,DNS:localhost` */
  readonly subjectAltName: string
}

export interface CertOptions {
  /** SAN of the server certificate; default `IP:127.0.0.1,DNS:localhost` */
  readonly subjectAltName?: string
  /** key type: `ec` (P-256, ecdsa-with-SHA256; fast) or `rsa` (2048, sha256WithRSAEncryption) */
  readonly keyType?: "ec" | "rsa"
}

const openssl = (dir: string, args: ReadonlyArray<string>): void => {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
}

const keyArgs = (keyType: "ec" | "rsa"): Array<string> =>
  keyType === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] : ["-newkey", "rsa:2048"]

const read = (dir: string, base: string): CertFiles => {
  const certPath = path.join(dir, `${base}.crt`)
  const keyPath = path.join(dir, `${base}.key`)
  return { certPath, keyPath, cert: fs.readFileSync(certPath, "utf8"), key: fs.readFileSync(keyPath, "utf8") }
}

/** Creates the CAs and the certificates (synchronous; ~100 ms with EC keys). */
export const makeCertsSync = (options: CertOptions = {}): TestCerts => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-pg-certs-"))
  const keyType = options.keyType ?? "ec"
  const san = options.subjectAltName ?? "IP:127.0.0.1,DNS:localhost"
  try {
    const makeCa = (base: string, cn: string) =>
      openssl(dir, [
        "req", "-x509", ...keyArgs(keyType), "-nodes", "-sha256", "-days", "2",
        "-keyout", `${base}.key`, "-out", `${base}.crt`, "-subj", `/CN=${cn}`,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"
      ])
    makeCa("ca", "effect-pg test CA")
    makeCa("other-ca", "effect-pg unrelated CA")
    fs.writeFileSync(
      path.join(dir, "server.ext"),
      [
        `subjectAltName=${san}`,
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth"
      ].join("\n") + "\n"
    )
    const issue = (base: string, cn: string) => {
      openssl(dir, ["req", ...keyArgs(keyType), "-nodes", "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${cn}`])
      openssl(dir, [
        "x509", "-req", "-in", `${base}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-sha256", "-extfile", "server.ext", "-out", `${base}.crt`
      ])
    }
    issue("server", "effect-pg test server")
    issue("impostor", "effect-pg test server")
    return {
      dir,
      ca: read(dir, "ca"),
      server: read(dir, "server"),
      otherCa: read(dir, "other-ca"),
      impostor: read(dir, "impostor"),
      subjectAltName: san
    }
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true })
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? ""
    throw new Error(`openssl failed: ${e instanceof Error ? e.message : String(e)}\n${stderr}`)
  }
}

/** {@link makeCertsSync}, with the directory removed when the scope closes. */
export const makeCerts = (options: CertOptions = {}): Effect.Effect<TestCerts, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => makeCertsSync(options)),
    (c) => Effect.sync(() => fs.rmSync(c.dir, { recursive: true, force: true }))
  )

/**
 * `ClusterOptions` pieces for a TLS server: the certificate and key written
 * into the data directory (key 0600, owned by postgres) and `ssl = on`.
 */
export const sslServerFiles = (certs: TestCerts) => ({
  files: {
    "server.crt": { content: certs.server.cert, mode: 0o644 },
    "server.key": { content: certs.server.key, mode: 0o600 }
  },
  conf: {
    ssl: "on",
    ssl_cert_file: "'server.crt'",
    ssl_key_file: "'server.key'"
  }
})
