export * from './catalog';
export * from './inventory';
