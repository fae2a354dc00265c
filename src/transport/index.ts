/** Public surface of the peer transport; the server imports from here only. */
export { PeerTransport, TRANSPORT_DEFAULTS } from './peer-transport.js';
export { PeerError } from './peer-error.js';
export {
  noFaults,
  type BackoffOptions,
  type PeerHandler,
  type PeerTransportOptions,
  type TransportFaults,
  type TransportStats,
} from './transport-interface.js';
