export * from './flow';
export * from './outbound';
export * from './capabilities';
export * from './inbound';
export * from './router';
export * from './plugin';
export * from './service';
