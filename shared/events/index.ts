/** Domain events: the envelope and registry, and every known definition (importing this registers them). */
export * from './envelope';
export * from './definitions';
export * from './orders';
