export * from './auth.js';
export * from './platform.js';
export * from './notifications.js';
export * from './billing.js';
export * from './issues.js';
export * from './services.js';
export * from './inventory.js';
