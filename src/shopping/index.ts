/**
 * Shop the look: prices and availability that survive a surge ({@link CachedPriceSource} over any
 * {@link PriceSource}, e.g. a merchant's HTTP API through {@link httpPriceUpstream}).
 */
export { CachedPriceSource, InMemoryPriceSource, PriceUnavailableError, httpPriceUpstream } from './prices.js';
export type { PriceAnswer, PriceQuote, PriceRequest, PriceSource, CachedPriceOptions, PriceSourceStats } from './prices.js';
