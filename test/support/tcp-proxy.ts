/**
 * A TCP proxy a test controls, to put a real network fault between a process and a real server:
 * `blackhole()` keeps every connection open but forwards nothing (a partition: requests hang, as
 * across a dead link), `heal()` forwards again.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  url(scheme?: string): string;
  blackhole(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let partitioned = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (data: Buffer) => {
        if (!partitioned) to.write(data); // else dropped on the floor, connection kept
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: (scheme = 'https') => `${scheme}://127.0.0.1:${port}`,
    blackhole: () => {
      partitioned = true;
    },
    heal: () => {
      partitioned = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A kubeconfig like `source` (same credentials) that reaches the API server at `server`. */
export function kubeconfigVia(source: string, server: string): string {
  return source.replace(/server: https:\/\/[^\s]+/, `server: ${server}`);
}
