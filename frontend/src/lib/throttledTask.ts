// Runs an async task at most once per interval, one run at a time and in call order. A reply
// being streamed is stored this way: a reload or a closed tab keeps what had arrived, and a
// later save can never be overtaken by an earlier, staler one.

export interface ThrottledTask {
  /** Run the task if the interval has passed since the last run; failures are dropped. */
  poke: () => void
  /** Run the task now, after any run still in progress. */
  run: () => Promise<void>
}

export function createThrottledTask(
  task: () => Promise<void>,
  options: { intervalMs: number; now?: () => number },
): ThrottledTask {
  const now = options.now ?? Date.now
  let lastRun = -Infinity
  let queue: Promise<void> = Promise.resolve()

  function run(): Promise<void> {
    lastRun = now()
    const next = queue.then(task, task)
    queue = next.catch(() => undefined)
    return next
  }

  return {
    poke() {
      if (now() - lastRun >= options.intervalMs) run().catch(() => undefined)
    },
    run,
  }
}
