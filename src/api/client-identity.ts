/**
 * Who a client is, for limits that are per client rather than per connection (sessions per
 * client). Today that is the IP address the connection comes from: one host, one budget, as
 * ZooKeeper's maxClientCnxns counts per IP. Once calls carry an authenticated identity (a TLS
 * client certificate subject or a user token), this is the one function to change so that a
 * budget follows the identity instead of the address.
 */

/** Anything that knows the remote address of its connection (every grpc-js server call does). */
export interface PeerAware {
  getPeer(): string;
}

/**
 * The IP address of the client. grpc-js renders the remote address as `host:port` for IPv4 and
 * `addr:port` (no brackets) for IPv6, so the port is whatever follows the last colon.
 */
export function clientIdentity(call: PeerAware): string {
  const peer = call.getPeer();
  const colon = peer.lastIndexOf(':');
  if (colon <= 0) return peer;
  const host = peer.slice(0, colon);
  return host.startsWith('::ffff:') ? host.slice('::ffff:'.length) : host;
}

/**
 * The key a per-client budget is counted under: the authenticated identity while auth is on
 * (so one user's sessions count together from any host, and users behind one address do not
 * share a budget), otherwise the IP address.
 */
export function budgetKey(call: PeerAware, identity: readonly string[] | undefined): string {
  return identity !== undefined && identity.length > 0 ? identity.join(' ') : clientIdentity(call);
}

/** One TCP connection: the remote address and port (unique while the connection lives). */
export function connectionKey(call: PeerAware): string {
  return call.getPeer();
}
