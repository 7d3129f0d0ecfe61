/** The shapes of the Clash API this page reads (see packages/core/src/control/clash-types.ts). */
export interface Connection {
  id: string;
  upload: number;
  download: number;
  start: string;
  chains: string[];
  rule: string;
  rulePayload: string;
  metadata: { network: string; sourceIP: string; sourcePort: string; destinationIP: string; destinationPort: string; host: string };
}
export interface ConnectionsSnapshot {
  uploadTotal: number;
  downloadTotal: number;
  connections: Connection[];
}
export interface Rule {
  index: number;
  type: string;
  payload: string;
  proxy: string;
  size: number;
  hits: number;
}
export interface Proxy {
  name: string;
  type: string;
  alive: boolean;
  history: { time: string; delay: number }[];
  now?: string;
  all?: string[];
}
export interface LogLine {
  type: string;
  payload: string;
}

/** The API answered with an error status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The control API of the Sluice that served this page (same origin: the page
 * makes no request anywhere else). The secret goes as a Bearer token, and as
 * `?token=` on WebSockets, where a browser cannot set headers.
 */
export class Api {
  constructor(private secret: string) {}

  private headers(): Record<string, string> {
    return this.secret === '' ? {} : { Authorization: `Bearer ${this.secret}` };
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: { ...this.headers(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // not JSON: the text itself
      }
      throw new ApiError(res.status, `${method} ${path}: ${res.status} ${message}`);
    }
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** A WebSocket to `path` on this origin, parsing each message as JSON; reconnects when it drops, until `close()`. */
  stream<T>(path: string, onMessage: (m: T) => void): { close(): void } {
    let socket: WebSocket | undefined;
    let closed = false;
    const open = (): void => {
      const url = new URL(path, location.href);
      url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
      if (this.secret !== '') url.searchParams.set('token', this.secret);
      socket = new WebSocket(url);
      socket.onmessage = (e) => onMessage(JSON.parse(String(e.data)) as T);
      socket.onclose = () => {
        if (!closed) setTimeout(open, 2000);
      };
    };
    open();
    return {
      close: () => {
        closed = true;
        socket?.close();
      },
    };
  }
}
