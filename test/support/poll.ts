/**
 * Checks `condition` every `stepMs` until it holds or `deadline` (a `performance.now()` time) has
 * passed: the time it first held, or null.
 */
export async function firstHeldAt(condition: () => boolean | Promise<boolean>, deadline: number, stepMs = 10): Promise<number | null> {
  for (;;) {
    if (await condition()) return performance.now();
    if (performance.now() >= deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
