// Orders for measuring several configurations one after another on a noisy machine.

/**
 * Run orders in which every configuration is measured in every position, and after every
 * other configuration, equally often (a Williams design). Reversing the order every round
 * left the middle configurations (keys, the memory store) never measured right after
 * themselves while off and Redis were, at each round's turn: in four runs the memory
 * store's "CPU vs off" read 2 to 11 points above the side-by-side measurement of the same
 * pair (the auth bench also warms each run up now).
 */
export function balancedOrders(n: number): number[][] {
  const first: number[] = []
  for (let j = 0, lo = 0, hi = n - 1; j < n; j++) first.push(j % 2 === 0 ? lo++ : hi--)
  // first: 0, n-1, 1, n-2, …; each row shifts it by one.
  const rows = first.map((_, r) => first.map((x) => (x + r) % n))
  // With an odd count, the reversed rows complete the balance.
  return n % 2 === 0 ? rows : [...rows, ...rows.map((row) => [...row].reverse())]
}
