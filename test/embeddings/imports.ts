/** One import point for the tests: everything public comes from the module's index. */
export * from '../../src/embeddings/index.js';
export { InvalidParameterError, FileFormatError, DimensionMismatchError, NumericalError, PinrecError } from '../../src/core/errors.js';
