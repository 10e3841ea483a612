/**
 * Freezes a plain-data tree in place and returns it. The loaded config is shared by every
 * module for the life of the process (and swapped whole on reload), so nothing may mutate
 * it; freezing turns an accidental write into a TypeError in strict-mode modules.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
