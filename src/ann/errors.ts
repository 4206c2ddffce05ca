/** Errors specific to vector indexes. */
import { PinrecError } from '../core/errors.js';

/**
 * A search was run on an index with no live items.
 *
 * @example
 * try { new ExactIndex({ metric: 'l2', dim: 2 }).search([0, 0], 1); }
 * catch (e) { if (e instanceof EmptyIndexError) report(e.code); } // e.code === 'EMPTY_INDEX'
 */
export class EmptyIndexError extends PinrecError {
  constructor(what: string) {
    super('EMPTY_INDEX', `${what} is empty: add items with addItems() (or load a saved index) before searching`);
  }
}
