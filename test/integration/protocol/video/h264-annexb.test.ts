import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  groupAccessUnits,
  H264NalType,
  isVclNalUnit,
  nalUnitType,
  splitAnnexB,
  startsPicture,
} from '../../../../src/protocol/video/index.js';
import { packageRoot } from '../../../../src/shared/package-root.js';
import { requirePeer, spawnPeer } from '../../../helpers/peers/process.js';

const bytes = (...values: number[]): Buffer => Buffer.from(values);
const hex = (units: readonly Buffer[]): string[] => units.map((unit) => unit.toString('hex'));

const clipPath = join(packageRoot(), 'assets', 'demo.h264');

describe('splitAnnexB', () => {
  it('finds NAL units behind 3- and 4-byte start codes', () => {
    const stream = bytes(0, 0, 0, 1, 0x67, 0xaa, 0, 0, 1, 0x68, 0xbb, 0, 0, 0, 1, 0x65, 0x88, 0x01);
    assert.deepEqual(hex(splitAnnexB(stream)), ['67aa', '68bb', '658801']);
  });

  it('drops trailing and leading zero bytes, and bytes before the first start code', () => {
    const stream = bytes(0xde, 0xad, 0, 0, 0, 0, 1, 0x65, 0x11, 0, 0, 0, 0, 0, 1, 0x41, 0x22, 0, 0);
    assert.deepEqual(hex(splitAnnexB(stream)), ['6511', '4122']);
  });

  it('keeps 0x000003 emulation prevention and zeros inside a unit', () => {
    const stream = bytes(0, 0, 1, 0x06, 0x00, 0x00, 0x03, 0x00, 0x80, 0, 0, 1, 0x68, 0x00, 0x02);
    assert.deepEqual(hex(splitAnnexB(stream)), ['060000030080', '680002']);
  });

  it('gives nothing for empty input, bare start codes and garbage without a start code', () => {
    assert.deepEqual(splitAnnexB(bytes()), []);
    assert.deepEqual(splitAnnexB(bytes(0, 0, 1)), []);
    assert.deepEqual(splitAnnexB(bytes(0, 0, 0, 1, 0, 0, 1, 0, 0, 0)), []);
    assert.deepEqual(splitAnnexB(bytes(0, 0)), []);
    assert.deepEqual(splitAnnexB(Buffer.from('no start code in here, just text')), []);
    assert.deepEqual(splitAnnexB(bytes(0, 1, 0, 2, 0, 0, 2, 1, 0xff)), []);
  });

  it('returns views into the input, also of a Uint8Array at an offset', () => {
    const backing = new Uint8Array([9, 9, 0, 0, 1, 0x67, 0x42, 9]);
    const units = splitAnnexB(backing.subarray(2, 7));
    assert.deepEqual(hex(units), ['6742']);
    backing[6] = 0x43;
    assert.equal(units[0]?.toString('hex'), '6743');
  });

  it('round-trips random NAL units joined with random start codes (property)', () => {
    let seed = 0x2545f491;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x1_0000_0000;
    };
    for (let round = 0; round < 500; round++) {
      const units: Buffer[] = [];
      const count = Math.floor(random() * 6);
      for (let i = 0; i < count; i++) units.push(randomNalUnit(random));
      const parts: Buffer[] = [Buffer.alloc(Math.floor(random() * 3))];
      for (const unit of units) {
        parts.push(random() < 0.5 ? bytes(0, 0, 1) : bytes(0, 0, 0, 1), unit);
        parts.push(Buffer.alloc(Math.floor(random() * 3))); // trailing_zero_8bits
      }
      assert.deepEqual(hex(splitAnnexB(Buffer.concat(parts))), hex(units));
    }
  });

  it('never throws or reads out of bounds on random bytes', () => {
    let seed = 7;
    for (let round = 0; round < 2000; round++) {
      const length = round % 64;
      const input = Buffer.alloc(length);
      for (let i = 0; i < length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        input[i] = (seed >>> 16) % 4 === 0 ? 0 : (seed >>> 8) & 0xff;
      }
      for (const unit of splitAnnexB(input)) {
        assert.ok(unit.length > 0 && unit[unit.length - 1] !== 0);
      }
      groupAccessUnits(splitAnnexB(input));
    }
  });
});

/**
 * A NAL unit as an encoder writes one: a header byte, then bytes where
 * emulation prevention has ruled out 00 00 0x (x <= 3), ending in a non-zero byte.
 */
function randomNalUnit(random: () => number): Buffer {
  const length = 1 + Math.floor(random() * 40);
  const unit = Buffer.alloc(length);
  unit[0] = 1 + Math.floor(random() * 23);
  for (let i = 1; i < length; i++) {
    let value = random() < 0.3 ? 0 : Math.floor(random() * 256);
    if (value === 0 && i >= 2 && unit[i - 1] === 0 && unit[i - 2] === 0) value = 3;
    unit[i] = value;
  }
  if (unit[length - 1] === 0) unit[length - 1] = 0x80;
  for (let i = 2; i < length; i++) {
    // A zero pair followed by 0x01 or 0x02 would be a start code or reserved.
    if (unit[i - 2] === 0 && unit[i - 1] === 0 && (unit[i] ?? 0) < 3) unit[i] = 3;
  }
  return unit;
}

describe('NAL unit helpers', () => {
  it('reads the type and tells slices from the rest', () => {
    assert.equal(nalUnitType(bytes(0x67)), H264NalType.SPS);
    assert.equal(nalUnitType(bytes(0x09, 0xf0)), H264NalType.AUD);
    assert.equal(nalUnitType(bytes()), -1);
    assert.equal(isVclNalUnit(bytes(0x65)), true);
    assert.equal(isVclNalUnit(bytes(0x41)), true);
    assert.equal(isVclNalUnit(bytes(0x68)), false);
    assert.equal(isVclNalUnit(bytes()), false);
  });

  it('tells a picture’s first slice by first_mb_in_slice == 0', () => {
    assert.equal(startsPicture(bytes(0x65, 0x88)), true); // ue(v) '1' = 0
    assert.equal(startsPicture(bytes(0x41, 0x9a)), true);
    assert.equal(startsPicture(bytes(0x41, 0x40)), false); // ue(v) '010' = 1
    assert.equal(startsPicture(bytes(0x41)), false); // truncated
    assert.equal(startsPicture(bytes(0x67, 0xff)), false); // not a slice
  });
});

describe('groupAccessUnits', () => {
  const aud = bytes(0x09, 0xf0);
  const sps = bytes(0x67, 0x42);
  const pps = bytes(0x68, 0xce);
  const sei = bytes(0x06, 0x05);
  const idr = bytes(0x65, 0x88);
  const idrSecondSlice = bytes(0x65, 0x40); // first_mb_in_slice = 1
  const p = bytes(0x41, 0x9a);
  const pSecondSlice = bytes(0x41, 0x20); // first_mb_in_slice = 3
  const group = (...nals: Buffer[]): string[][] => groupAccessUnits(nals).map(hex);

  it('starts a unit at every AUD', () => {
    assert.deepEqual(group(aud, sps, pps, idr, aud, p, aud, p), [
      hex([aud, sps, pps, idr]),
      hex([aud, p]),
      hex([aud, p]),
    ]);
  });

  it('without AUDs: at SPS/PPS/SEI after a picture, and at a slice with first_mb 0', () => {
    assert.deepEqual(group(sps, pps, idr, idrSecondSlice, p, pSecondSlice, sei, p, sps, pps, idr), [
      hex([sps, pps, idr, idrSecondSlice]),
      hex([p, pSecondSlice]),
      hex([sei, p]),
      hex([sps, pps, idr]),
    ]);
  });

  it('keeps parameter sets and SEI before the first slice with that slice', () => {
    assert.deepEqual(group(sei, sps, sei, pps, idr), [hex([sei, sps, sei, pps, idr])]);
    assert.deepEqual(group(), []);
    assert.deepEqual(group(sps), [hex([sps])]);
  });

  it('groups the demo clip into as many units as ffprobe counts frames', async () => {
    requirePeer('ffprobe');
    const probe = await spawnPeer(
      'ffprobe',
      [
        ...['-v', 'error', '-count_frames', '-select_streams', 'v:0'],
        ...['-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', clipPath],
      ],
      { timeoutMs: 20_000 },
    ).exited;
    assert.equal(probe.code, 0, probe.stderr);
    const frames = Number.parseInt(probe.stdout.trim(), 10);
    assert.equal(frames, 100); // the clip as assets/README.md describes it

    const units = groupAccessUnits(splitAnnexB(readFileSync(clipPath)));
    assert.equal(units.length, frames);
    for (const [index, unit] of units.entries()) {
      assert.equal(nalUnitType(unit[0] ?? bytes()), H264NalType.AUD, `unit ${index}`);
      assert.equal(unit.filter(isVclNalUnit).length, 1, `unit ${index}: one slice per picture`);
      const keyframe = index % 25 === 0;
      const types = unit.map((nal) => nalUnitType(nal));
      assert.equal(
        types.includes(H264NalType.IDR_SLICE),
        keyframe,
        `unit ${index}: ${types.join(',')}`,
      );
      assert.equal(types.includes(H264NalType.SPS), keyframe, `unit ${index}: ${types.join(',')}`);
    }
  });
});
