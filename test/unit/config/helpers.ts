import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/config/errors.ts';

/** Runs `fn`, asserts it throws a ConfigError with exactly `message`, and returns it. */
export function assertConfigError(fn: () => unknown, message: string): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.message, message);
  return caught;
}
