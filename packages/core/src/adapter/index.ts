export * from './flow';
export * from './outbound';
