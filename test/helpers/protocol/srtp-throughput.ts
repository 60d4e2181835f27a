/**
 * SRTP throughput, per profile and packet size: not a test, a measurement.
 *
 *   npx tsc -p tsconfig.build.json && node dist/test/helpers/protocol/srtp-throughput.js [iterations]
 *
 * Prints operations per second on one core for protect alone, unprotect alone,
 * and protect followed by unprotect (what one relayed packet costs when both
 * legs are SRTP), with werift's SRTP for comparison where it has the profile.
 */
import { performance } from 'node:perf_hooks';
import { RtpHeader, SrtpSession as WeriftSrtpSession } from 'werift';
import {
  generateKeyingMaterial,
  srtpProfiles,
  SrtpSession,
  type SrtpProfile,
} from '../../../src/protocol/srtp/index.js';
import { rtpPacket } from './srtp-packets.js';

const iterations = Math.min(1_000_000, Math.max(1_000, Number(process.argv[2] ?? 50_000)));
const weriftProfiles: Partial<Record<SrtpProfile, number>> = {
  AES_CM_128_HMAC_SHA1_80: 0x0001,
  AEAD_AES_128_GCM: 0x0007,
};

function template(size: number): Buffer {
  return rtpPacket({ seq: 0, ssrc: 0x1234_5678, payload: Buffer.alloc(size - 12, 0xa5) });
}

function rate(count: number, run: () => void): number {
  const start = performance.now();
  run();
  return Math.round(count / ((performance.now() - start) / 1000));
}

function unwrap(result: ReturnType<SrtpSession['protectRtp']>): Buffer {
  if (!result.ok) throw new Error(`unexpected drop: ${result.reason}`);
  return result.packet;
}

function measure(profile: SrtpProfile, size: number): Record<string, number | string> {
  const keys = generateKeyingMaterial(profile);
  const plain = template(size);
  const sender = new SrtpSession(keys);
  const receiver = new SrtpSession(keys);
  let seq = 0;
  const next = (): Buffer => {
    plain.writeUInt16BE(seq, 2);
    seq = (seq + 1) & 0xffff;
    return plain;
  };
  // Warm up the JIT and the crypto paths.
  for (let i = 0; i < 5_000; i++) {
    if (!receiver.unprotectRtp(unwrap(sender.protectRtp(next()))).ok)
      throw new Error('warm-up drop');
  }

  const protectRate = rate(iterations, () => {
    for (let i = 0; i < iterations; i++) sender.protectRtp(next());
  });
  const batch = Array.from({ length: Math.min(iterations, 20_000) }, () =>
    unwrap(sender.protectRtp(next())),
  );
  let unprotected = 0;
  const unprotectRate = rate(iterations, () => {
    // Fresh receivers per batch: the batch's indices are new to each of them.
    for (let done = 0; done < iterations;) {
      const fresh = new SrtpSession(keys);
      for (let i = 0; i < batch.length && done < iterations; i++, done++) {
        if (fresh.unprotectRtp(batch[i] ?? plain).ok) unprotected++;
      }
    }
  });
  if (unprotected !== iterations) throw new Error('unprotect dropped packets');
  // A new pair: the receiver above saw only the warm-up, and would be a ROC behind.
  const pairSender = new SrtpSession(keys);
  const pairReceiver = new SrtpSession(keys);
  let relayed = 0;
  const pairRate = rate(iterations, () => {
    for (let i = 0; i < iterations; i++) {
      if (pairReceiver.unprotectRtp(unwrap(pairSender.protectRtp(next()))).ok) relayed++;
    }
  });
  if (relayed !== iterations) throw new Error('protect+unprotect dropped packets');

  const weriftProfile = weriftProfiles[profile];
  let weriftPairRate = '-';
  if (weriftProfile !== undefined) {
    const config = {
      keys: {
        localMasterKey: keys.masterKey,
        localMasterSalt: keys.masterSalt,
        remoteMasterKey: keys.masterKey,
        remoteMasterSalt: keys.masterSalt,
      },
      profile: weriftProfile,
    };
    const werift = new WeriftSrtpSession(config);
    const count = Math.min(iterations, 20_000);
    weriftPairRate = String(
      rate(count, () => {
        for (let i = 0; i < count; i++) {
          const packet = next();
          const header = RtpHeader.deSerialize(packet);
          werift.decrypt(werift.encrypt(packet.subarray(header.payloadOffset), header));
        }
      }),
    );
  }
  return {
    profile,
    bytes: size,
    'protect/s': protectRate,
    'unprotect/s': unprotectRate,
    'protect+unprotect/s': pairRate,
    'werift protect+unprotect/s': weriftPairRate,
  };
}

console.log(
  `node ${process.version}, ${iterations} packets per measurement, one SSRC, RTP with a 12-byte header`,
);
console.table(srtpProfiles.flatMap((profile) => [200, 1200].map((size) => measure(profile, size))));
