import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests share one real server; files run in parallel, two workers on this 2-core box.
    maxWorkers: 2,
    // memory tests collect garbage before sampling RSS, so they measure what is kept, not GC lag
    execArgv: ["--expose-gc"],
    // the default console report, and a JSON summary that .ci/run turns into one plain line
    // (npm test runs the fault suite on its own, one file at a time: its deadlines are measured)
    reporters: ["default", ["json", { outputFile: process.env.VITEST_JSON ?? "test-results.json" }]]
  }
})
