/**
 * The one gRPC call of the benchmark: a unary method whose request and
 * response are the same tiny protobuf message, handled as raw bytes on both
 * ends (no .proto compilation; the bytes are a valid protobuf all the same).
 *
 * h2load sends the request body from a file as it is, so the file holds one
 * gRPC length-prefixed message (gRPC over HTTP/2, "Length-Prefixed-Message"):
 * a compressed flag byte (0), the message length as 4 bytes big-endian, then
 * the protobuf bytes.
 */

/** :path of the unary method. */
export const GRPC_METHOD_PATH = '/streammesh.bench.Echo/Unary';

/** protobuf: field 1 (wire type 2, length-delimited) = "streammesh-bench". */
export const GRPC_MESSAGE: Buffer = protobufBytesField(1, Buffer.from('streammesh-bench'));

/** Headers h2load sends with every gRPC request. */
export const GRPC_REQUEST_HEADERS: readonly string[] = [
  'content-type: application/grpc',
  'te: trailers',
];

/** The request body as gRPC frames it on the wire. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(0, 0);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

function protobufBytesField(field: number, value: Buffer): Buffer {
  if (value.length > 127) throw new Error('one-byte varint lengths only');
  return Buffer.concat([Buffer.from([(field << 3) | 2, value.length]), value]);
}
