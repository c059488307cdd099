/**
 * Aggregation (median and min–max over rounds, ratios) and the three outputs: markdown, JSON and
 * a hand-written SVG chart of the ratios to effect-pg.
 */
import { type Case, type Measurement, workloadById, WORKLOADS, type WorkloadId } from "./common.js"

export interface Meta {
  readonly date: string
  readonly cores: number
  readonly cpu: string
  readonly postgres: string
  readonly pgbench: string | undefined
  readonly node: string
  readonly command: string
  readonly method: string
  readonly options: Record<string, unknown>
  readonly totalSeconds?: number
  /** 1-minute load average before and after the run (other work on the machine skews numbers) */
  readonly load?: { readonly before: number; readonly after: number }
}

export interface CaseResult {
  readonly case: Case
  readonly rounds: Array<Measurement>
  error?: string
}

export interface Row {
  readonly id: string
  readonly peer: string
  readonly label: string
  readonly rounds: ReadonlyArray<number>
  readonly median?: number
  readonly min?: number
  readonly max?: number
  readonly p50Ms?: number
  readonly p99Ms?: number
  readonly vsReference?: number
  readonly vsPgbench?: number
  readonly vsPipeline?: number
  readonly note?: string
  readonly error?: string
}

export interface WorkloadReport {
  readonly id: WorkloadId
  readonly title: string
  readonly unit: string
  readonly reference?: { readonly id: string; readonly label: string }
  readonly rows: ReadonlyArray<Row>
}

export interface Report {
  readonly meta: Meta
  readonly workloads: ReadonlyArray<WorkloadReport>
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const aggregate = (meta: Meta, results: ReadonlyArray<CaseResult>): Report => {
  const workloads: Array<WorkloadReport> = []
  for (const w of WORKLOADS) {
    const rs = results.filter((r) => r.case.workload === w.id)
    if (rs.length === 0) continue
    const base = rs.map((r) => {
      const values = r.rounds.map((m) => m.value)
      const p50 = r.rounds.map((m) => m.p50Ms).filter((x): x is number => x !== undefined)
      const p99 = r.rounds.map((m) => m.p99Ms).filter((x): x is number => x !== undefined)
      const loads = r.rounds.map((m) => m.loads).filter((x): x is number => x !== undefined)
      const avgLat = r.rounds.map((m) => m.avgLatencyMs).filter((x): x is number => x !== undefined)
      const notes = [
        ...(loads.length ? [`loads per round: ${loads.join("/")}`] : []),
        ...(avgLat.length && w.latency ? [`${r.case.driver === "pgbench" ? "no caller queue, " : ""}avg latency ${median(avgLat).toFixed(1)} ms`] : [])
      ]
      return {
        r,
        values,
        median: values.length ? median(values) : undefined,
        min: values.length ? Math.min(...values) : undefined,
        max: values.length ? Math.max(...values) : undefined,
        p50Ms: p50.length ? median(p50) : undefined,
        p99Ms: p99.length ? median(p99) : undefined,
        note: notes.length ? notes.join("; ") : undefined
      }
    })
    // effect-pg's headline row; when it has no number, pg Pool's row (so the chart still says something)
    const ref = base.find((b) => b.r.case.reference && b.median !== undefined) ??
      base.find((b) => b.r.case.peer === "pg" && b.median !== undefined)
    const ceiling = (kind: "plain" | "pipeline") => base.find((b) => b.r.case.ceiling === kind)?.median
    const plain = ceiling("plain")
    const pipe = ceiling("pipeline")
    const rows: Array<Row> = base.map((b) => {
      const m = b.median
      const row: Row = {
        id: b.r.case.id,
        peer: b.r.case.peer,
        label: b.r.case.label,
        rounds: b.values,
        ...(m !== undefined ? { median: m, min: b.min!, max: b.max! } : {}),
        ...(b.p50Ms !== undefined ? { p50Ms: b.p50Ms } : {}),
        ...(b.p99Ms !== undefined ? { p99Ms: b.p99Ms } : {}),
        ...(m !== undefined && ref ? { vsReference: m / ref.median! } : {}),
        ...(m !== undefined && plain ? { vsPgbench: m / plain } : {}),
        ...(m !== undefined && pipe ? { vsPipeline: m / pipe } : {}),
        ...(b.note ? { note: b.note } : {}),
        ...(b.r.error && m === undefined ? { error: b.r.error } : {})
      }
      return row
    })
    workloads.push({
      id: w.id,
      title: w.title,
      unit: w.unit,
      ...(ref ? { reference: { id: ref.r.case.id, label: ref.r.case.label } } : {}),
      rows
    })
  }
  return { meta, workloads }
}

// ---------------------------------------------------------------------------------------------
// Markdown

const int = (x: number) => Math.round(x).toLocaleString("en-US")
const ratio = (x: number | undefined) => (x === undefined ? "–" : x >= 10 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`)
const ms = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(1))
const esc = (s: string) => s.replace(/\|/g, "\\|")

const isReference = (w: WorkloadReport, r: Row) => w.reference?.id === r.id
const refName = (w: WorkloadReport) =>
  w.reference?.id.startsWith("effect-pg/") ? "effect-pg" : w.reference ? "pg Pool" : "effect-pg"

export const markdown = (report: Report): string => {
  const { meta } = report
  const out: Array<string> = []
  out.push("# effect-pg benchmark")
  out.push("")
  out.push(`- Date: ${meta.date}`)
  out.push(`- Machine: ${meta.cores} cores (${meta.cpu}), client and server on the same machine, loopback TCP`)
  out.push(`- PostgreSQL: ${meta.postgres}${meta.pgbench ? ` · ${meta.pgbench}` : ""}`)
  out.push(`- Node: ${meta.node}`)
  out.push(`- Command: \`${meta.command}\``)
  out.push(`- Settings: ${Object.entries(meta.options).map(([k, v]) => `${k}=${String(v)}`).join(", ")}`)
  if (meta.totalSeconds !== undefined) out.push(`- Wall time: ${meta.totalSeconds.toFixed(0)} s`)
  if (meta.load) {
    out.push(
      `- Load average (1 min) before / after: ${meta.load.before.toFixed(2)} / ${meta.load.after.toFixed(2)}${
        meta.load.before > 0.5 ? " — the machine was not idle when the run started" : ""
      }`
    )
  }
  out.push("")
  out.push(meta.method)
  out.push("")

  // summary: ratio to effect-pg, one column per workload
  const peers: Array<{ peer: string; label: string }> = []
  for (const w of report.workloads) {
    for (const r of w.rows) {
      if (!peers.some((p) => p.peer === r.peer)) peers.push({ peer: r.peer, label: r.label.split(" · ")[0]! })
    }
  }
  out.push("## Summary: throughput relative to effect-pg (median of rounds; > 1 means faster than effect-pg)")
  out.push("")
  out.push(`| peer | ${report.workloads.map((w) => w.id).join(" | ")} |`)
  out.push(`|---|${report.workloads.map(() => "---:").join("|")}|`)
  const multi: Array<string> = []
  for (const p of peers) {
    const cells = report.workloads.map((w) => {
      const rows = w.rows.filter((r) => r.peer === p.peer)
      if (rows.length === 0) return ""
      if (rows.length > 1) multi.push(`${peerName(p.peer)} in ${w.id}: ${rows.map((r) => r.label.split(" · ").slice(1).join(" · ")).join(" / ")}`)
      return rows.map((r) => (r.vsReference !== undefined ? ratio(r.vsReference) : r.error ? "n/a" : "–")).join(" / ")
    })
    out.push(`| ${esc(peerName(p.peer))} | ${cells.join(" | ")} |`)
  }
  if (multi.length) {
    out.push("")
    out.push(`Two numbers in a cell: ${multi.map(esc).join("; ")}.`)
  }
  out.push("")
  out.push(
    "W1 W2 W5 W6 in queries/s, W3 W4 in rows/s. W4i = bulk insert, W4c = COPY. " +
      "W5: each query acquires and releases a connection. W6: 200 callers queue for a pool of 10."
  )
  const fallback = report.workloads.filter((w) => !w.reference?.id.startsWith("effect-pg/"))
  if (fallback.length) {
    out.push("")
    out.push(
      `effect-pg has no number in ${fallback.map((w) => w.id).join(", ")}: ratios there are relative to ${
        fallback.some((w) => w.reference) ? "pg Pool" : "nothing"
      }.`
    )
  }
  out.push("")

  for (const w of report.workloads) {
    const hasPlain = w.rows.some((r) => r.vsPgbench !== undefined)
    const hasPipe = w.rows.some((r) => r.vsPipeline !== undefined)
    const hasLat = w.rows.some((r) => r.p50Ms !== undefined)
    const hasNote = w.rows.some((r) => r.note !== undefined)
    out.push(`## ${w.title}`)
    out.push("")
    const head = [
      "peer",
      `${w.unit} (median)`,
      "min – max",
      `× ${refName(w)}`,
      ...(hasPlain ? ["÷ pgbench"] : []),
      ...(hasPipe ? ["÷ pgbench pipeline"] : []),
      ...(hasLat ? ["p50 ms", "p99 ms"] : []),
      ...(hasNote ? ["note"] : [])
    ]
    out.push(`| ${head.join(" | ")} |`)
    out.push(`|---|${head.slice(1).map((h) => (h === "note" ? "---" : "---:")).join("|")}|`)
    for (const r of w.rows) {
      const label = isReference(w, r) ? `**${esc(r.label)}**` : esc(r.label)
      if (r.median === undefined) {
        const cols = head.length - 2
        out.push(`| ${label} | n/a: ${esc(r.error ?? "not measured")} |${" |".repeat(cols)}`)
        continue
      }
      const cells = [
        label,
        int(r.median),
        `${int(r.min!)} – ${int(r.max!)}`,
        ratio(r.vsReference),
        ...(hasPlain ? [ratio(r.vsPgbench)] : []),
        ...(hasPipe ? [ratio(r.vsPipeline)] : []),
        ...(hasLat ? [ms(r.p50Ms), ms(r.p99Ms)] : []),
        ...(hasNote ? [esc(r.note ?? "")] : [])
      ]
      out.push(`| ${cells.join(" | ")} |`)
    }
    out.push("")
  }
  out.push("![ratios to effect-pg](latest.svg)")
  out.push("")
  return out.join("\n")
}

const PEER_NAMES: Record<string, string> = {
  "effect-pg": "effect-pg",
  "effect-pg-promise": "effect-pg · runPromise per query",
  "effect-pg-nopipe": "effect-pg · pipelining: false",
  "effect-pg-schema": "effect-pg · { schema } rows",
  pg: "pg Pool",
  "pg-named": "pg Pool · named statements",
  postgres: "postgres.js",
  "sql-pg": "@effect/sql-pg",
  "sql-pg-mux": "@effect/sql-pg · multiplex",
  "sql-client": "effect-pg/sql · SqlClient",
  pgbench: "pgbench (libpq)",
  "pgbench-pipeline": "pgbench · 32-query pipelines"
}
const peerName = (peer: string) => PEER_NAMES[peer] ?? peer

// ---------------------------------------------------------------------------------------------
// SVG: one diverging bar per row on a log2 axis centred on 1× (the reference)

const COLORS: Record<string, string> = {
  "effect-pg": "#2563eb",
  "effect-pg-promise": "#60a5fa",
  "effect-pg-nopipe": "#93c5fd",
  "effect-pg-schema": "#1e40af",
  pg: "#ea580c",
  "pg-named": "#fb923c",
  postgres: "#16a34a",
  "sql-pg": "#9333ea",
  "sql-pg-mux": "#c084fc",
  "sql-client": "#0891b2",
  pgbench: "#6b7280",
  "pgbench-pipeline": "#9ca3af"
}

const xmlEsc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

export const svg = (report: Report): string => {
  const W = 960
  const labelW = 390
  const valueW = 70
  const plotX0 = labelW
  const plotX1 = W - valueW
  const minL = -4 // 1/16×
  const maxL = 5 // 32×
  const x = (r: number) => {
    const l = Math.min(maxL, Math.max(minL, Math.log2(r)))
    return plotX0 + ((l - minL) / (maxL - minL)) * (plotX1 - plotX0)
  }
  const barH = 16
  const gap = 4
  const headH = 26
  let y = 64
  const parts: Array<string> = []
  for (const w of report.workloads) {
    const refLabel = w.reference ? refName(w) : "—"
    parts.push(
      `<text x="12" y="${y + 17}" class="h">${xmlEsc(w.title)}${
        w.reference && refLabel !== "effect-pg" ? xmlEsc(`  (relative to ${refLabel}: effect-pg n/a)`) : ""
      }</text>`
    )
    y += headH
    const top = y
    for (const r of w.rows) {
      const color = COLORS[r.peer] ?? "#374151"
      parts.push(`<text x="${labelW - 8}" y="${y + 12}" class="l" text-anchor="end">${xmlEsc(trim(r.label, 60))}</text>`)
      if (r.vsReference !== undefined) {
        const a = x(1)
        const b = x(r.vsReference)
        const x0 = Math.min(a, b)
        const wdt = Math.max(1, Math.abs(b - a))
        const clipped = Math.log2(r.vsReference) > maxL || Math.log2(r.vsReference) < minL
        parts.push(
          `<rect x="${x0.toFixed(1)}" y="${y}" width="${wdt.toFixed(1)}" height="${barH}" fill="${color}"${
            isReference(w, r) ? ' stroke="#111827" stroke-width="1"' : ""
          }><title>${xmlEsc(`${r.label}: ${int(r.median!)} ${w.unit} (${ratio(r.vsReference)})`)}</title></rect>`
        )
        parts.push(
          `<text x="${plotX1 + 6}" y="${y + 12}" class="v">${ratio(r.vsReference)}${clipped ? " ›" : ""}</text>`
        )
      } else {
        parts.push(`<text x="${x(1) + 6}" y="${y + 12}" class="na">n/a</text>`)
      }
      y += barH + gap
    }
    // reference line at 1×
    parts.push(
      `<line x1="${x(1).toFixed(1)}" y1="${top - 2}" x2="${x(1).toFixed(1)}" y2="${y - gap + 2}" class="ref"/>`
    )
    y += 14
  }
  const height = y + 30
  const ticks: Array<string> = []
  for (let l = minL; l <= maxL; l++) {
    const r = 2 ** l
    const tx = x(r)
    ticks.push(`<line x1="${tx.toFixed(1)}" y1="48" x2="${tx.toFixed(1)}" y2="${y}" class="grid"/>`)
    const t = r >= 1 ? `${r}×` : `1/${1 / r}×`
    ticks.push(`<text x="${tx.toFixed(1)}" y="44" class="t" text-anchor="middle">${t}</text>`)
    ticks.push(`<text x="${tx.toFixed(1)}" y="${y + 14}" class="t" text-anchor="middle">${t}</text>`)
  }
  const m = report.meta
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    `<style>.h{font-size:13px;font-weight:600;fill:#111827}.l{font-size:11.5px;fill:#374151}.v{font-size:11.5px;fill:#111827}.na{font-size:11.5px;fill:#9ca3af;font-style:italic}.t{font-size:10.5px;fill:#6b7280}.grid{stroke:#e5e7eb;stroke-width:1}.ref{stroke:#111827;stroke-width:1.2;stroke-dasharray:3 2}</style>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" class="h" style="font-size:15px">${
      xmlEsc(`Throughput relative to effect-pg (log scale; right of the dashed line = faster than effect-pg)`)
    }</text>`,
    `<text x="12" y="${height - 8}" class="t">${
      xmlEsc(
        `${m.date} · ${m.cores} cores · PostgreSQL ${m.postgres.split(" ")[0]} · Node ${m.node} · median of ${
          String(m.options["rounds"])
        } rounds · ${m.command}`
      )
    }</text>`,
    ...ticks,
    ...parts,
    `</svg>`,
    ""
  ].join("\n")
}

const trim = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + "…" : s)

export const workloadUnit = (id: WorkloadId) => workloadById(id).unit
