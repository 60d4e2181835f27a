/**
 * The HTTP/1.1, HTTP/2 and gRPC proxy (`proxy.http`): listener -> router -> cluster -> upstream;
 * a config participant.
 */
export { HttpService } from './l7-service.js';
