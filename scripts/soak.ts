/**
 * `npm run soak [-- <seconds>]`: the fault storms of test/faults at soak
 * length (default 300 s per storm), one file at a time. Not part of
 * `npm test`. Needs the same local server as the tests, and root for the
 * throwaway clusters.
 */
import { spawnSync } from "node:child_process"

const seconds = Number(process.argv[2] ?? process.env.FAULTS_SOAK_SECONDS ?? 300)
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(`usage: npm run soak -- <seconds per storm>, got ${process.argv[2]}`)
  process.exit(2)
}
const files = [
  "test/faults/terminate-storm.test.ts",
  "test/faults/interrupt-storm.test.ts",
  "test/faults/atomicity.test.ts",
  "test/faults/crash-restart.test.ts"
]
console.log(`soak: ${seconds} s per storm, ${files.length} files`)
const result = spawnSync("npx", ["vitest", "run", "--maxWorkers=1", ...files], {
  stdio: "inherit",
  env: { ...process.env, FAULTS_SOAK_SECONDS: String(seconds), FAULTS_INTERRUPT_OPS: process.env.FAULTS_INTERRUPT_OPS ?? "1000000" }
})
process.exit(result.status ?? 1)
