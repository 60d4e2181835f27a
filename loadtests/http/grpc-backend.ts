/**
 * The gRPC backend of `npm run bench:http`, run as a child process: a
 * @grpc/grpc-js server with one unary method that answers each request with
 * its own message (raw Buffer serializers, so no protobuf work is measured).
 *
 *   node grpc-backend.js        binds 127.0.0.1 on a port the kernel picks,
 *                               prints "ready <port>" on stdout
 *
 * It runs until it is signalled (the driver starts it under `timeout`).
 */
import * as grpc from '@grpc/grpc-js';
import { GRPC_METHOD_PATH } from './grpc-message.js';

const identity = (bytes: Buffer): Buffer => bytes;

const service: grpc.ServiceDefinition = {
  Unary: {
    path: GRPC_METHOD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

const unary: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
  callback(null, call.request);
};

const server = new grpc.Server();
server.addService(service, { Unary: unary });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error !== null) {
    process.stderr.write(`grpc-backend: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`ready ${port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  });
}
