export * from './audit';
export * from './catalog';
export * from './identity';
export * from './inventory';
export * from './events';
export * from './payments';
export * from './wishlist';
export * from './orders';
