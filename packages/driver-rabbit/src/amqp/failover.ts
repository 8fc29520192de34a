/**
 * The order in which one connection tries its server URLs. Each connection
 * shuffles the list once, when it is made, and then walks its own order
 * round-robin, as RabbitMQ's own clients do: with one fixed order, every
 * client would crowd the first node, and every client of a node that stops
 * would move to the same next node; shuffled, clients spread evenly over the
 * nodes at start and over the survivors after a loss.
 */

/**
 * Returns a new array with `items` in a uniformly random order
 * (Fisher–Yates). `random` must return numbers in [0, 1), as Math.random.
 */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
