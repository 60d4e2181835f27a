/**
 * What a supervised worker thread and the thread that started it say to each
 * other, whatever the requests are about. Every request carries an id and a
 * kind; the thread answers each with a reply of that id. Only plain data
 * crosses (structured clone), so a refusal crosses as code, message and the
 * resources it named, and is rebuilt as an error on the other side.
 *
 * One kind is the protocol's own: 'close'. The thread closes what it runs,
 * answers, then closes its port, and ends.
 */

/** A request: the thread answers it with a reply of the same id. */
export interface ThreadRequest {
  readonly id: number;
  readonly kind: string;
}

/** A request as its sender writes it: the handle gives it its id. */
export type RequestBody<Request extends ThreadRequest> = Request extends unknown
  ? Omit<Request, 'id'>
  : never;

/** A refusal from the thread, rebuilt on the other side as an error (ThreadRefusal). */
export interface ThreadFailure<Resource = never> {
  readonly code: string;
  readonly message: string;
  /** The resources the error named as refused (a config's, mostly), when it named any. */
  readonly resources?: readonly Resource[];
}

export type ThreadReply<Value, Resource = never> =
  | { readonly id: number; readonly ok: true; readonly value: Value }
  | { readonly id: number; readonly ok: false; readonly failure: ThreadFailure<Resource> };
