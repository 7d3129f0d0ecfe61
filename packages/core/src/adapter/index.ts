export * from './flow';
export * from './outbound';
export * from './router';
