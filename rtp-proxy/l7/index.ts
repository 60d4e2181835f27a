/**
 * The HTTP/1.1, HTTP/2 and gRPC proxy (`proxy.http`): listener -> router -> cluster -> upstream;
 * a config participant. The rtp-proxy runs it on a thread of its own (IsolatedHttpService).
 * Listeners may terminate TLS (mutual TLS with the node's workload certificate between mesh
 * proxies, or a certificate from files) and authorize callers by SPIFFE ID; clusters may
 * originate mutual TLS.
 */
export { HttpService } from './l7-service.js';
export { HTTP_RESOURCE_TYPES } from './http-resources.js';
export {
  IsolatedHttpService,
  type IsolatedHttpServiceOptions,
} from './thread/isolated-http-service.js';
