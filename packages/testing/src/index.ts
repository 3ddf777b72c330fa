export { WAIT_INTERVAL_MS, WAIT_TIMEOUT_MS, WaitTimeoutError, eventually, nextEvent, waitFor } from './wait.js';
export type { WaitOptions } from './wait.js';
export { machineLock } from './machine-lock.js';
export { heapAfterGc } from './heap.js';
