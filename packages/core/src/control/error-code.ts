/**
 * A bounded label for why a flow failed, from its access-log `error` text:
 * the errno name when there is one (`ECONNREFUSED`), else a word for the
 * kind of end. Never the address or the message itself, so the series count
 * of `sluice_flow_errors_total` stays bounded.
 */
export function errorCode(error: string): string {
  const errno = /\bE[A-Z0-9]{2,}\b/.exec(error);
  if (errno) return errno[0];
  if (error.startsWith('aborted')) return 'aborted';
  if (error.includes('idle timeout')) return 'idle_timeout';
  if (error.includes('connect timeout')) return 'connect_timeout';
  if (error.startsWith('limit')) return 'limit';
  if (error.startsWith('loop')) return 'loop';
  if (error.includes('session limit')) return 'session_limit';
  if (error.includes('shutdown')) return 'shutdown';
  if (error.includes('does not carry')) return 'unsupported_network';
  if (error.includes('blocked')) return 'blocked';
  return 'other';
}
