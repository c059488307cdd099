import { createHash, createHmac, X509Certificate } from "node:crypto"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  certificateSignatureOid,
  md5Password,
  parseServerFirst,
  saltedPassword,
  saslPrep,
  ScramError,
  scramContinue,
  scramFinish,
  scramStart,
  tlsServerEndPointHash
} from "../src/protocol/scram.js"

// RFC 7677 §3
const rfc = {
  clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal:
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
}

describe("SCRAM-SHA-256", () => {
  it("reproduces the RFC 7677 example exchange", () => {
    const start = scramStart("SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO", undefined, "user")
    expect(start.clientFirstMessage).toBe(rfc.clientFirst)
    const next = scramContinue(start.state, rfc.serverFirst, "pencil")
    expect(next.clientFinalMessage).toBe(rfc.clientFinal)
    expect(next.expectedServerSignature).toBe("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    expect(() => scramFinish(next.expectedServerSignature, rfc.serverFinal)).not.toThrow()
  })

  it("sends an empty user name and a fresh random nonce by default", () => {
    const a = scramStart("SCRAM-SHA-256")
    const b = scramStart("SCRAM-SHA-256")
    expect(a.clientFirstMessage).toMatch(/^n,,n=,r=[A-Za-z0-9+/]{24}$/)
    expect(a.state.clientNonce).not.toBe(b.state.clientNonce)
  })

  it("escapes , and = in the user name", () => {
    expect(scramStart("SCRAM-SHA-256", "abc", undefined, "a=b,c").clientFirstMessage).toBe("n,,n=a=3Db=2Cc,r=abc")
  })

  it("uses the y flag when it could bind but the server offered no PLUS", () => {
    const s = scramStart("SCRAM-SHA-256", "abc", { type: "tls-server-end-point", data: Buffer.from([1, 2]) })
    expect(s.clientFirstMessage).toBe("y,,n=,r=abc")
    expect(s.state.channelBindingAttr).toBe(Buffer.from("y,,").toString("base64"))
  })

  it("binds the channel with SCRAM-SHA-256-PLUS", () => {
    const data = Buffer.from("0123456789abcdef0123456789abcdef")
    const s = scramStart("SCRAM-SHA-256-PLUS", "abc", { type: "tls-server-end-point", data })
    expect(s.clientFirstMessage).toBe("p=tls-server-end-point,,n=,r=abc")
    const next = scramContinue(s.state, "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", "pencil")
    const c = /^c=([^,]+),/.exec(next.clientFinalMessage)![1]!
    expect(Buffer.from(c, "base64")).toEqual(Buffer.concat([Buffer.from("p=tls-server-end-point,,"), data]))
    expect(() => scramStart("SCRAM-SHA-256-PLUS", "abc")).toThrow(ScramError)
  })

  it("rejects a bad client nonce", () => {
    expect(() => scramStart("SCRAM-SHA-256", "has,comma")).toThrow(ScramError)
    expect(() => scramStart("SCRAM-SHA-256", "")).toThrow(ScramError)
  })

  describe("rejects malformed server-first messages", () => {
    const state = scramStart("SCRAM-SHA-256", "clientnonce").state
    const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
      ["empty", "", /attribute "r"/],
      ["missing nonce", "s=QSXCR+Q6sek8bf92,i=4096", /attribute "r"/],
      ["nonce equal to ours", "r=clientnonce,s=QSXCR+Q6sek8bf92,i=4096", /does not extend/],
      ["nonce shorter than ours", "r=client,s=QSXCR+Q6sek8bf92,i=4096", /does not extend/],
      ["nonce not extending ours", "r=otherNonceXYZ,s=QSXCR+Q6sek8bf92,i=4096", /does not extend/],
      ["missing salt", "r=clientnonceXYZ,i=4096", /attribute "s"/],
      ["empty salt", "r=clientnonceXYZ,s=,i=4096", /salt/],
      ["bad salt", "r=clientnonceXYZ,s=not*base64!,i=4096", /salt/],
      ["missing iterations", "r=clientnonceXYZ,s=QSXCR+Q6sek8bf92", /attribute "i"/],
      ["zero iterations", "r=clientnonceXYZ,s=QSXCR+Q6sek8bf92,i=0", /iteration count/],
      ["negative iterations", "r=clientnonceXYZ,s=QSXCR+Q6sek8bf92,i=-1", /iteration count/],
      ["non-numeric iterations", "r=clientnonceXYZ,s=QSXCR+Q6sek8bf92,i=abc", /iteration count/],
      ["mandatory extension", "m=ext,r=clientnonceXYZ,s=QSXCR+Q6sek8bf92,i=4096", /mandatory extension/],
      ["server error", "e=other-error", /rejected the exchange: other-error/]
    ]
    for (const [name, message, error] of cases) {
      it(name, () => {
        expect(() => scramContinue(state, message, "pencil")).toThrow(ScramError)
        expect(() => scramContinue(state, message, "pencil")).toThrow(error)
      })
    }
    it("accepts extensions after i=", () => {
      expect(parseServerFirst("r=clientnonceXYZ,s=QSXCR+Q6sek8bf92,i=4096,x=ext", "clientnonce").iterations).toBe(4096)
    })
  })

  describe("scramFinish", () => {
    const expected = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    it("rejects a wrong signature", () => {
      expect(() => scramFinish(expected, "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")).toThrow(/does not match/)
    })
    it("rejects a truncated signature", () => {
      expect(() => scramFinish(expected, "v=6rriTRBi")).toThrow(ScramError)
    })
    it("rejects e=", () => {
      expect(() => scramFinish(expected, "e=invalid-proof")).toThrow(/rejected the exchange: invalid-proof/)
    })
    it("rejects a message without v=", () => {
      expect(() => scramFinish(expected, "x=1")).toThrow(/malformed server-final/)
      expect(() => scramFinish(expected, "")).toThrow(ScramError)
    })
  })
})

describe("md5Password", () => {
  it("matches the server's md5()", () => {
    // SELECT 'md5' || md5(convert_to(md5('pencil' || 'user'), 'UTF8') || '\x01020304'::bytea)
    expect(md5Password("user", "pencil", Buffer.from([1, 2, 3, 4]))).toBe("md54376eb6913b38f9aaff38dc7cf19ca76")
    // non-ASCII user and password are hashed as UTF-8
    expect(md5Password("üser", "pässwörd", Buffer.from("deadbeef", "hex"))).toBe("md5d0c97a27e2cd2a4688775698fc41fb9d")
  })
  it("is md5(stored hash without prefix + salt)", () => {
    // the stored hash of ALTER ROLE user PASSWORD 'pencil' with md5 is 'md5' || md5('pencil' || 'user')
    const stored = "20c46e3762c864548e296b33c3406aa9"
    const salt = Buffer.from([9, 8, 7, 6])
    const expected = "md5" + createHash("md5").update(stored).update(salt).digest("hex")
    expect(md5Password("user", "pencil", salt)).toBe(expected)
  })
})

describe("saslPrep", () => {
  it("leaves ASCII alone, even control characters (as pg_saslprep)", () => {
    expect(saslPrep("pencil")).toBe("pencil")
    expect(saslPrep("a\tb")).toBe("a\tb")
    expect(saslPrep("")).toBe("")
  })
  it("maps and normalizes (RFC 4013 examples)", () => {
    expect(saslPrep("I\u00ADX")).toBe("IX") // soft hyphen mapped to nothing
    expect(saslPrep("\u00AA")).toBe("a") // NFKC
    expect(saslPrep("\u2168")).toBe("IX") // NFKC
    expect(saslPrep("a\u00A0b")).toBe("a b") // non-ASCII space
    expect(saslPrep("pa\u0308ss")).toBe("p\u00E4ss") // composition
  })
  it("gives up (raw bytes) on prohibited characters and bidi violations", () => {
    expect(saslPrep("\u00E4\u0007")).toBeUndefined() // ASCII control next to non-ASCII
    expect(saslPrep("\u00E4\uE000")).toBeUndefined() // private use
    expect(saslPrep("\u0627\u0031")).toBeUndefined() // RandAL first, not last
    expect(saslPrep("\u0627x\u0627")).toBeUndefined() // RandAL with LCat
    expect(saslPrep("\u0627\u0031\u0628")).toBe("\u0627\u0031\u0628")
    expect(saslPrep("\uD800x\u00E4")).toBeUndefined() // lone surrogate
  })
})

describe("tlsServerEndPointHash", () => {
  let dir: string
  const certs: Record<string, Buffer> = {}
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "scram-cert-"))
    const make = (name: string, keyArgs: ReadonlyArray<string>, digest: string) => {
      const key = path.join(dir, `${name}.key`)
      const crt = path.join(dir, `${name}.der`)
      execFileSync("openssl", [
        "req", "-x509", "-nodes", "-newkey", ...keyArgs, "-keyout", key, "-outform", "DER", "-out", crt,
        "-days", "1", "-subj", "/CN=test", ...(digest === "" ? [] : [`-${digest}`])
      ], { stdio: "ignore" })
      certs[name] = fs.readFileSync(crt)
    }
    make("rsa-sha256", ["rsa:2048"], "sha256")
    make("rsa-sha1", ["rsa:2048"], "sha1")
    make("rsa-sha512", ["rsa:2048"], "sha512")
    make("ec-sha384", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "sha384")
    make("ed25519", ["ed25519"], "")
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  const hash = (alg: string, der: Buffer) => createHash(alg).update(der).digest()

  it("hashes with the certificate's signature digest", () => {
    expect(tlsServerEndPointHash(certs["rsa-sha256"]!)).toEqual(hash("sha256", certs["rsa-sha256"]!))
    expect(tlsServerEndPointHash(certs["rsa-sha512"]!)).toEqual(hash("sha512", certs["rsa-sha512"]!))
    expect(tlsServerEndPointHash(certs["ec-sha384"]!)).toEqual(hash("sha384", certs["ec-sha384"]!))
  })
  it("upgrades SHA-1 to SHA-256", () => {
    expect(tlsServerEndPointHash(certs["rsa-sha1"]!)).toEqual(hash("sha256", certs["rsa-sha1"]!))
  })
  it("reads the same OID as node:crypto", () => {
    for (const der of Object.values(certs)) {
      const x509 = new X509Certificate(der) as X509Certificate & { signatureAlgorithmOid?: string }
      if (x509.signatureAlgorithmOid !== undefined) expect(certificateSignatureOid(der)).toBe(x509.signatureAlgorithmOid)
    }
  })
  it("refuses Ed25519 (no digest), as PostgreSQL does", () => {
    expect(() => tlsServerEndPointHash(certs["ed25519"]!)).toThrow(/OID 1\.3\.101\.112/)
  })
  it("accepts an explicit algorithm", () => {
    const der = certs["ed25519"]!
    expect(tlsServerEndPointHash(der, "sha384")).toEqual(hash("sha384", der))
    expect(tlsServerEndPointHash(der, "RSA-SHA1")).toEqual(hash("sha256", der))
    expect(() => tlsServerEndPointHash(der, "ed25519")).toThrow(ScramError)
  })
  it("rejects garbage", () => {
    expect(() => tlsServerEndPointHash(Buffer.from([1, 2, 3]))).toThrow(ScramError)
    expect(() => tlsServerEndPointHash(Buffer.from([0x30, 0x82, 0x10]))).toThrow(ScramError)
  })
})

describe("password preparation against the server's verifier", () => {
  // The server SASLpreps a plaintext password when it stores a SCRAM verifier
  // (CREATE ROLE ... PASSWORD, in a rolled-back transaction: nothing persists).
  // StoredKey and ServerKey must equal ours for the same salt and iterations.
  const url = process.env["DATABASE_URL"] ?? "postgres://root@127.0.0.1:5432/test"
  const client = new pg.Client({ connectionString: url })
  beforeAll(() => client.connect())
  afterAll(() => client.end())

  const verifier = async (password: string): Promise<string> => {
    await client.query("BEGIN")
    try {
      await client.query("SET LOCAL password_encryption = 'scram-sha-256'")
      await client.query(`CREATE ROLE effect_pg_scram_probe PASSWORD ${client.escapeLiteral(password)}`)
      const r = await client.query<{ p: string }>(
        "SELECT rolpassword AS p FROM pg_authid WHERE rolname = 'effect_pg_scram_probe'"
      )
      return r.rows[0]!.p
    } finally {
      await client.query("ROLLBACK")
    }
  }

  const passwords = [
    "pencil",
    "p\u00E4ssw\u00F6rd", // NFC
    "pa\u0308sswo\u0308rd", // decomposed: NFKC composes
    "\uFB01sh", // ligature: NFKC expands
    "a\u00A0b\u3000c", // non-ASCII spaces
    "I\u00ADX\u200B", // mapped to nothing / space
    "\u2168\u00AA", // compatibility characters
    "\u0627\uFB01\u0627", // bidi violation: raw bytes
    "\u00E4\u0007\uFB01", // prohibited control: raw bytes
    "\u00E4\uE000\uFB01", // private use: raw bytes
    "\u05D0\u05D1\u05D2" // Hebrew only: fine
  ]
  for (const password of passwords) {
    it(`matches for ${JSON.stringify(password)}`, async () => {
      const v = await verifier(password)
      const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(v)
      expect(m).not.toBeNull()
      const [, iterations, salt, storedKey, serverKey] = m!
      const salted = saltedPassword(password, Buffer.from(salt!, "base64"), Number(iterations))
      const clientKey = createHmac("sha256", salted).update("Client Key").digest()
      expect(createHash("sha256").update(clientKey).digest("base64")).toBe(storedKey)
      expect(createHmac("sha256", salted).update("Server Key").digest("base64")).toBe(serverKey)
    })
  }
})
