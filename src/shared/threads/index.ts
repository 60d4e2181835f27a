/**
 * Supervised worker threads with request/reply over postMessage: the handle
 * the starting thread keeps (ThreadHandle: ids, waiting requests, the end
 * reason, utilization, close) and the thread's side (serveRequests,
 * PreparedChanges). The media workers and the L7 threads are both built on
 * it. Light on purpose: a thread's entry imports it, so it loads nothing but
 * node:worker_threads and the shared errors.
 */
export type { RequestBody, ThreadFailure, ThreadReply, ThreadRequest } from './messages.js';
export {
  ThreadHandle,
  ThreadRefusal,
  type ThreadEnd,
  type ThreadHandleOptions,
} from './thread-handle.js';
export { PreparedChanges, serveRequests, threadPort, type ServeOptions } from './thread-server.js';
