import type { CheckResult } from './types';

/** Shorthands for results. */
export const ok = (message: string, details?: readonly string[]): CheckResult => ({ status: 'ok', message, details });
export const warn = (message: string, fix?: string, details?: readonly string[]): CheckResult => ({ status: 'warn', message, fix, details });
export const fail = (message: string, fix?: string, details?: readonly string[]): CheckResult => ({ status: 'fail', message, fix, details });
