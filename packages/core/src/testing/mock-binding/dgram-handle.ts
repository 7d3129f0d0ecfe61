import type * as dgram from 'node:dgram';

/** The libuv handle of a dgram socket (not public API: dgram keeps it under an unexported symbol). */
export interface UdpHandle {
  readonly fd: number;
  bind(address: string, port: number, flags: number): number;
  bind6(address: string, port: number, flags: number): number;
  connect(address: string, port: number): number;
  connect6(address: string, port: number): number;
  getsockname(out: Record<string, unknown>): number;
  disconnect(): number;
}

/**
 * The handle, read from dgram's state object; its `_handle` getter would do
 * the same but prints a deprecation warning (DEP0112) on every process.
 */
export function dgramHandle(socket: dgram.Socket): UdpHandle | undefined {
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    const state = (socket as unknown as Record<symbol, { handle?: UdpHandle | null } | undefined>)[sym];
    if (state && typeof state === 'object' && 'handle' in state) return state.handle ?? undefined;
  }
  return undefined;
}
