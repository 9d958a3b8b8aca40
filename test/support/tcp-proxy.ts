// A TCP proxy the fault tests put between a process and a real service (Postgres, Redis, SQS), so an
// outage is real on the wire: block() drops every connection and refuses new ones, hang() accepts and
// never answers, slow() answers late. Never fakes replies.

import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TcpProxyTarget {
  readonly host: string;
  readonly port: number;
}

export interface TcpProxyStats {
  /** Connections accepted and forwarded since start. */
  readonly accepted: number;
  /** Connections cut by block(). */
  readonly dropped: number;
}

/**
 * Forwards 127.0.0.1:<port> to `target`. While blocked the port is closed (clients get ECONNREFUSED)
 * and every connection that was open has been reset; restore() listens on the same port again.
 */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private listening = false;
  private acceptedCount = 0;
  private droppedCount = 0;
  private closed = false;
  /** How bytes travel: at once, after a delay, or not at all (swallowed). */
  private mode: { readonly kind: 'forward' } | { readonly kind: 'slow'; readonly delayMs: number } | { readonly kind: 'hang' } = {
    kind: 'forward',
  };
  /** Connections that lost bytes while hung: out of sync with the server, so reset on forward(). */
  private readonly desynced = new Set<net.Socket>();
  /** Chunks a slow() proxy has yet to deliver; dropped with the connections on block(). */
  private readonly delayed = new Set<NodeJS.Timeout>();

  private constructor(
    readonly target: TcpProxyTarget,
    private portNumber: number,
  ) {
    this.server = net.createServer((client) => this.forward(client));
    this.server.on('error', () => {});
  }

  /** Starts a proxy on a free loopback port. */
  static async start(target: TcpProxyTarget): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, 0);
    await proxy.listen();
    return proxy;
  }

  get port(): number {
    return this.portNumber;
  }

  get blocked(): boolean {
    return !this.listening;
  }

  get stats(): TcpProxyStats {
    return { accepted: this.acceptedCount, dropped: this.droppedCount };
  }

  /** `scheme://[user@]127.0.0.1:<proxy port>/path` for a URL that points at the target. */
  rewrite(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  private forward(client: net.Socket): void {
    this.acceptedCount++;
    const upstream = net.connect({ host: this.target.host, port: this.target.port });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', cut).on('close', cut);
    upstream.on('error', cut).on('close', cut);
    this.relay(client, upstream);
    this.relay(upstream, client);
  }

  /** Copies `from` → `to` as the current mode says (timers of equal delay fire in order). */
  private relay(from: net.Socket, to: net.Socket): void {
    from.on('data', (chunk: Buffer) => {
      const mode = this.mode;
      if (mode.kind === 'hang') {
        this.desynced.add(from);
        this.desynced.add(to);
        return;
      }
      if (mode.kind === 'slow') {
        const timer = setTimeout(() => {
          this.delayed.delete(timer);
          if (to.writable) to.write(chunk);
        }, mode.delayMs);
        this.delayed.add(timer);
      } else if (to.writable) to.write(chunk);
    });
    from.on('end', () => to.end());
  }

  /** Accepts connections and forwards nothing either way, open ones included: a peer that never answers. */
  hang(): void {
    this.mode = { kind: 'hang' };
  }

  /** Forwards every chunk `delayMs` late, both ways: a peer that answers slowly. */
  slow(delayMs: number): void {
    this.mode = { kind: 'slow', delayMs };
  }

  /** Forwards at once again; connections that lost bytes while hung are reset (their protocol is out of sync). */
  answerNormally(): void {
    this.mode = { kind: 'forward' };
    for (const socket of this.desynced) socket.destroy();
    this.desynced.clear();
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        this.server.off('listening', onListening);
        reject(error);
      };
      const onListening = () => {
        this.server.off('error', onError);
        const address = this.server.address() as net.AddressInfo;
        this.portNumber = address.port;
        this.listening = true;
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen({ port: this.portNumber, host: '127.0.0.1', exclusive: true });
    });
  }

  /** The outage starts: open connections are reset, new ones refused. */
  async block(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) {
      this.droppedCount++;
      if (typeof socket.resetAndDestroy === 'function' && !socket.destroyed && socket.readyState === 'open')
        socket.resetAndDestroy();
      else socket.destroy();
    }
    this.sockets.clear();
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    await closing;
  }

  /** The outage ends: the same port accepts connections again. */
  async restore(): Promise<void> {
    if (this.listening || this.closed) return;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await this.listen();
        return;
      } catch (error) {
        // A client's ephemeral port may briefly hold ours; it is freed as soon as that connect fails.
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw error;
        await sleep(50);
      }
    }
  }

  /** Blocks for `ms`, then restores, even if the caller's wait is interrupted. */
  async outage(ms: number): Promise<void> {
    await this.block();
    try {
      await sleep(ms);
    } finally {
      await this.restore();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.block();
  }
}

/** A loopback port that accepts connections and never answers (no service behind it at all). */
export async function startSilentServer(): Promise<{ readonly port: number; readonly url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {}).on('close', () => sockets.delete(socket));
    socket.resume(); // read and discard: the peer's request is taken, never answered
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
