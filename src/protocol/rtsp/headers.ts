/**
 * RTSP header fields (RFC 2326 §12): an ordered list of name/value pairs,
 * looked up case-insensitively, kept in their original order and case so a
 * proxy forwards them as it received them.
 */

/** RFC 2616 §2.2 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

export class RtspHeaders {
  readonly #fields: [string, string][] = [];

  constructor(init?: Iterable<readonly [string, string]>) {
    if (init !== undefined) {
      for (const [name, value] of init) this.#fields.push([name, value]);
    }
  }

  /** Number of header lines. */
  get size(): number {
    return this.#fields.length;
  }

  /** The first value of `name` (case-insensitive), or undefined. */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.#fields.find(([field]) => field.toLowerCase() === lower)?.[1];
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    return this.#fields.filter(([field]) => field.toLowerCase() === lower).map(([, v]) => v);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Replaces every `name` line by one, kept where the first was; appends if there was none. */
  set(name: string, value: string): this {
    const lower = name.toLowerCase();
    const index = this.#fields.findIndex(([field]) => field.toLowerCase() === lower);
    if (index === -1) {
      this.#fields.push([name, value]);
      return this;
    }
    this.delete(name);
    this.#fields.splice(index, 0, [name, value]);
    return this;
  }

  /** Adds a line, even if `name` is already present. */
  append(name: string, value: string): this {
    this.#fields.push([name, value]);
    return this;
  }

  /** Removes every `name` line; true if there was one. */
  delete(name: string): boolean {
    const lower = name.toLowerCase();
    const before = this.#fields.length;
    for (let i = this.#fields.length - 1; i >= 0; i--) {
      const field = this.#fields[i];
      if (field !== undefined && field[0].toLowerCase() === lower) this.#fields.splice(i, 1);
    }
    return this.#fields.length !== before;
  }

  /** Name/value pairs in original order and case. */
  *entries(): IterableIterator<[string, string]> {
    for (const [name, value] of this.#fields) yield [name, value];
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  /** The CSeq as a number, or undefined if absent or not a plain decimal. */
  cseq(): number | undefined {
    const value = this.get('CSeq')?.trim();
    if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : undefined;
  }

  clone(): RtspHeaders {
    return new RtspHeaders(this.#fields);
  }

  toJSON(): [string, string][] {
    return this.#fields.map(([name, value]) => [name, value]);
  }
}
