import type { StoreCapabilities } from '../core/store.js';

/**
 * Every capability the core knows, with the value a store that does not declare it gets. All are
 * false: a capability added later is one a store written before it does not have, so declaring
 * only what a store has keeps working whatever this list grows to.
 */
export const CAPABILITY_DEFAULTS: Readonly<Required<StoreCapabilities>> = Object.freeze({
  index: false,
  nativeExpiry: false,
  subjectPartitions: false,
  invalidation: 'none',
  sharedCounters: false,
  outbox: false,
});

const INVALIDATION_REACH: ReadonlyArray<StoreCapabilities['invalidation']> = ['none', 'everywhere'];

/**
 * A store's `capabilities`: what it declares, every other known capability at its default.
 * Only the known names are kept, each as `true` or `false` (`invalidation` as `'everywhere'` or
 * `'none'`), so what the core reads is exactly what the store meant.
 *
 * @example
 * readonly capabilities = defineCapabilities({ index: true });
 */
export function defineCapabilities(declared: StoreCapabilities = {}): Readonly<Required<StoreCapabilities>> {
  const { invalidation, ...flags } = CAPABILITY_DEFAULTS;
  const resolved = { ...flags };
  for (const name of Object.keys(flags) as Array<keyof typeof flags>) {
    const value = declared[name];
    if (value !== undefined) resolved[name] = value === true;
  }
  const reach = INVALIDATION_REACH.includes(declared.invalidation) ? declared.invalidation : invalidation;
  return Object.freeze({ ...resolved, invalidation: reach ?? 'none' });
}
