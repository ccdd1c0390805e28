import { describe, expect, it } from 'vitest'
import { AdmissionQueue } from '../../src/resilience/admission-queue.js'
import { NoHealthyUpstreamError } from '../../src/errors.js'
import { ManualClock, flush } from '../helpers/manual-clock.js'

function setup(max = 3, timeout = 10_000) {
  const clock = new ManualClock()
  const queue = new AdmissionQueue({ max, timeout }, clock)
  return { clock, queue }
}

describe('AdmissionQueue', () => {
  it('wakes waiters one per released slot, in arrival order', async () => {
    const { queue } = setup()
    const order: number[] = []
    const waits = [0, 1, 2].map((i) => queue.wait(new AbortController().signal).then((woken) => woken && order.push(i)))
    expect(queue.length).toBe(3)
    queue.release()
    await flush()
    expect(order).toEqual([0])
    queue.release()
    queue.release()
    await Promise.all(waits)
    expect(order).toEqual([0, 1, 2])
    expect(queue.length).toBe(0)
    queue.release() // nobody waiting: a no-op
  })

  it('refuses at once past max, with 503 queue_full and Retry-After', async () => {
    const { queue } = setup(2)
    void queue.wait(new AbortController().signal)
    void queue.wait(new AbortController().signal)
    const err = await queue.wait(new AbortController().signal).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NoHealthyUpstreamError)
    expect(err).toMatchObject({ status: 503, code: 'queue_full', headers: { 'retry-after': '1' } })
    const none = new AdmissionQueue({ max: 0, timeout: 1000 }, new ManualClock())
    await expect(none.wait(new AbortController().signal)).rejects.toMatchObject({ code: 'queue_full' })
  })

  it('gives up after the timeout with 503 queue_timeout', async () => {
    const { clock, queue } = setup(3, 10_000)
    const p = queue.wait(new AbortController().signal)
    const settled = p.catch((e: unknown) => e)
    clock.advance(9_999)
    expect(queue.length).toBe(1)
    clock.advance(1)
    expect(await settled).toMatchObject({ status: 503, code: 'queue_timeout' })
    expect(queue.length).toBe(0)
    expect(clock.pending).toBe(0)
  })

  it('a client that leaves is out of the queue at once, and the next waiter gets the slot', async () => {
    const { clock, queue } = setup()
    const a = new AbortController()
    const first = queue.wait(a.signal)
    const second = queue.wait(new AbortController().signal)
    a.abort()
    expect(await first).toBe(false)
    expect(queue.length).toBe(1)
    expect(clock.pending).toBe(1)
    queue.release()
    expect(await second).toBe(true)
    expect(await queue.wait(a.signal)).toBe(false) // already aborted: not queued
    expect(queue.length).toBe(0)
  })

  it('a woken waiter that lost the race goes back to the head', async () => {
    const { queue } = setup()
    const order: string[] = []
    void queue.wait(new AbortController().signal).then(() => order.push('b'))
    void queue.wait(new AbortController().signal, true).then(() => order.push('a'))
    queue.release()
    queue.release()
    await flush()
    expect(order).toEqual(['a', 'b'])
  })

  it('new limits apply to later arrivals', async () => {
    const { queue } = setup(1)
    void queue.wait(new AbortController().signal)
    queue.configure({ max: 2, timeout: 10_000 })
    void queue.wait(new AbortController().signal)
    expect(queue.length).toBe(2)
  })
})

describe('AdmissionQueue.wake', () => {
  it('lets waiters try in arrival order, each after the one before holds its slot, until one finds none', async () => {
    const { queue } = setup(5)
    const woken: number[] = []
    let slots = 2
    const waiter = async (i: number): Promise<void> => {
      let front = false
      while (await queue.wait(new AbortController().signal, front)) {
        woken.push(i)
        if (slots === 0) {
          front = true // no slot: back to the head of the line
          continue
        }
        slots--
        queue.passOn()
        return
      }
    }
    const all = [0, 1, 2, 3].map(waiter)
    await flush()
    queue.wake()
    await flush()
    // 0 and 1 took the two new slots, 2 found none and went back first in line; 3 still waits.
    expect(woken).toEqual([0, 1, 2])
    expect(queue.length).toBe(2)
    slots = 1
    queue.release()
    queue.passOn() // a plain release() starts no cascade
    await flush()
    expect(woken).toEqual([0, 1, 2, 2])
    expect(queue.length).toBe(1)
    slots = 1
    queue.release()
    await Promise.all(all)
    expect(woken).toEqual([0, 1, 2, 2, 3])
  })
})
