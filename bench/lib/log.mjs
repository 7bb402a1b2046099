// Progress lines, stamped with the seconds since the bench started, so a slow step shows in the log.
import { performance } from 'node:perf_hooks';

const t0 = performance.now();

export const elapsedSeconds = () => (performance.now() - t0) / 1000;

export const log = (...args) => console.log(`[${elapsedSeconds().toFixed(0).padStart(4)}s]`, ...args);
