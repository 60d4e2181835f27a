/**
 * Bencode, as rtpengine's NG control protocol uses it: integers (`i42e`),
 * byte strings (`4:spam`), lists (`l...e`) and dictionaries (`d...e`, keys
 * sorted by their bytes). Strings decode as UTF-8 text: NG carries SDP and
 * names, never binary.
 */

export type BencodeValue = number | string | BencodeValue[] | BencodeDict;
export interface BencodeDict {
  [key: string]: BencodeValue;
}

/** Input that is not bencode, or not all of it; `code` says why. */
export class BencodeError extends Error {
  override readonly name = 'BencodeError';
  readonly code: 'ERR_BENCODE_TRUNCATED' | 'ERR_BENCODE_INVALID' | 'ERR_BENCODE_TOO_DEEP';
  readonly offset: number;

  constructor(code: BencodeError['code'], offset: number, message: string) {
    super(`${message} at byte ${offset}`);
    this.code = code;
    this.offset = offset;
  }
}

const MAX_DEPTH = 64;

export function bencode(value: BencodeValue): Buffer {
  const parts: Buffer[] = [];
  encodeInto(value, parts);
  return Buffer.concat(parts);
}

function encodeInto(value: BencodeValue, parts: Buffer[]): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`bencode integers only, got ${value}`);
    parts.push(Buffer.from(`i${value}e`));
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    parts.push(Buffer.from(`${bytes.length}:`), bytes);
  } else if (Array.isArray(value)) {
    parts.push(Buffer.from('l'));
    for (const item of value) encodeInto(item, parts);
    parts.push(Buffer.from('e'));
  } else {
    parts.push(Buffer.from('d'));
    const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const key of keys) {
      const item = value[key];
      if (item === undefined) continue;
      encodeInto(key, parts);
      encodeInto(item, parts);
    }
    parts.push(Buffer.from('e'));
  }
}

/** Decodes exactly one value filling all of `input`. */
export function bdecode(input: Buffer): BencodeValue {
  const [value, end] = decodeAt(input, 0, 0);
  if (end !== input.length) {
    throw new BencodeError('ERR_BENCODE_INVALID', end, 'trailing bytes after the value');
  }
  return value;
}

function decodeAt(input: Buffer, offset: number, depth: number): [BencodeValue, number] {
  if (depth > MAX_DEPTH) throw new BencodeError('ERR_BENCODE_TOO_DEEP', offset, 'nested too deep');
  const type = input[offset];
  if (type === undefined) throw new BencodeError('ERR_BENCODE_TRUNCATED', offset, 'value expected');
  if (type === 0x69 /* i */) {
    const end = input.indexOf(0x65 /* e */, offset + 1);
    if (end < 0) throw new BencodeError('ERR_BENCODE_TRUNCATED', offset, 'unterminated integer');
    const text = input.toString('latin1', offset + 1, end);
    if (!/^(0|-?[1-9]\d*)$/.test(text)) {
      throw new BencodeError('ERR_BENCODE_INVALID', offset, `bad integer "${text}"`);
    }
    const value = Number(text);
    if (!Number.isSafeInteger(value)) {
      throw new BencodeError('ERR_BENCODE_INVALID', offset, `integer out of range "${text}"`);
    }
    return [value, end + 1];
  }
  if (type === 0x6c /* l */) {
    const list: BencodeValue[] = [];
    let at = offset + 1;
    while (input[at] !== 0x65) {
      const [item, next] = decodeAt(input, at, depth + 1);
      list.push(item);
      at = next;
    }
    return [list, at + 1];
  }
  if (type === 0x64 /* d */) {
    const dict: BencodeDict = {};
    let at = offset + 1;
    while (input[at] !== 0x65) {
      if (input[at] === undefined) {
        throw new BencodeError('ERR_BENCODE_TRUNCATED', at, 'unterminated dictionary');
      }
      const [key, afterKey] = decodeAt(input, at, depth + 1);
      if (typeof key !== 'string') {
        throw new BencodeError('ERR_BENCODE_INVALID', at, 'dictionary key must be a string');
      }
      const [item, next] = decodeAt(input, afterKey, depth + 1);
      Object.defineProperty(dict, key, { value: item, enumerable: true, writable: true });
      at = next;
    }
    return [dict, at + 1];
  }
  if (type >= 0x30 && type <= 0x39) {
    const colon = input.indexOf(0x3a /* : */, offset);
    if (colon < 0)
      throw new BencodeError('ERR_BENCODE_TRUNCATED', offset, 'string length without ":"');
    const lengthText = input.toString('latin1', offset, colon);
    if (!/^(0|[1-9]\d*)$/.test(lengthText)) {
      throw new BencodeError('ERR_BENCODE_INVALID', offset, `bad string length "${lengthText}"`);
    }
    const length = Number(lengthText);
    const end = colon + 1 + length;
    if (end > input.length) {
      throw new BencodeError(
        'ERR_BENCODE_TRUNCATED',
        offset,
        `string of ${length} bytes cut short`,
      );
    }
    return [input.toString('utf8', colon + 1, end), end];
  }
  throw new BencodeError('ERR_BENCODE_INVALID', offset, `unexpected byte 0x${type.toString(16)}`);
}

export function isBencodeDict(value: BencodeValue | undefined): value is BencodeDict {
  return typeof value === 'object' && !Array.isArray(value);
}
