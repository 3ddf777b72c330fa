/**
 * Freezes plain JSON and everything in it. Generated objects that are shared between resources
 * (endpoint metadata reused for every source identity) are frozen so no consumer can change one
 * resource by editing another.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
