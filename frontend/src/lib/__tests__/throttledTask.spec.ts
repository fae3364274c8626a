import { describe, expect, it } from 'vitest'
import { createThrottledTask } from '../throttledTask'

describe('createThrottledTask', () => {
  it('runs at most once per interval, one at a time, and always when asked to run', async () => {
    let clock = 0
    let running = 0
    let mostAtOnce = 0
    let runs = 0
    const task = createThrottledTask(
      async () => {
        running += 1
        mostAtOnce = Math.max(mostAtOnce, running)
        await new Promise((resolve) => setTimeout(resolve, 5))
        running -= 1
        runs += 1
      },
      { intervalMs: 1000, now: () => clock },
    )
    task.poke() // the first time: runs
    clock = 500
    task.poke() // too soon: skipped
    clock = 1000
    task.poke() // runs after the first one
    await task.run() // runs last, whatever the clock says, and waits for all before it
    expect({ runs, mostAtOnce }).toEqual({ runs: 3, mostAtOnce: 1 })
  })

  it('keeps going after a failed run and reports the failure of a run it was asked for', async () => {
    let fail = true
    const task = createThrottledTask(
      async () => {
        if (fail) throw new Error('disk full')
      },
      { intervalMs: 0 },
    )
    task.poke()
    await expect(task.run()).rejects.toThrow('disk full')
    fail = false
    await expect(task.run()).resolves.toBeUndefined()
  })
})
