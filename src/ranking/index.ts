/** Placeholder until this module lands. */
export {};
