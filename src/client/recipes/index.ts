/**
 * Coordination recipes on top of the Arbor client: locks, leader election, service discovery,
 * config watching, sequential names, barriers and queues. See docs/recipes.md.
 */
export { Barrier, DoubleBarrier, type WaitOptions } from './barrier.js';
export {
  ConfigWatcher,
  jsonCodec,
  updateConfig,
  type Codec,
  type ConfigWatcherEvents,
  type ConfigWatcherOptions,
} from './config.js';
export type { ContendOptions } from './contend.js';
export {
  Registration,
  ServiceDiscovery,
  groupPath,
  register,
  type PickStrategy,
  type RegisterOptions,
  type ServiceDiscoveryEvents,
  type ServiceInstance,
} from './discovery.js';
export { SessionEndedError } from './internal.js';
export {
  LeaderLatch,
  LeaderObserver,
  LeaderSelector,
  type LeaderInfo,
  type LeaderLatchEvents,
  type LeaderObserverEvents,
  type LeaderSelectorOptions,
} from './leader.js';
export { Lease, LockLostError } from './lease.js';
export { Mutex, ReadWriteLock, Semaphore, type AcquireOptions, type LockOptions } from './lock.js';
export { IdGenerator, type SequentialName } from './naming.js';
export { DistributedQueue, MAX_PRIORITY, type QueueItem } from './queue.js';
