/*
 * streammesh: libsrtp 3 API shim over Debian's libsrtp2 (libsrtp2-dev).
 *
 * The mediasoup worker (>= 3.15) is written against versatica's libsrtp 3 fork
 * (a meson subproject downloaded from GitHub), which Debian does not package.
 * scripts/mediasoup-worker.mjs builds the worker offline against libsrtp2
 * instead and puts this file first on the include path, so that the worker's
 * `#include <srtp.h>` lands here. It includes the real libsrtp2 header and
 * maps the handful of libsrtp 3 calls mediasoup uses onto libsrtp2:
 *
 *   srtp_protect / srtp_protect_rtcp      (libsrtp 3: separate in/out buffers,
 *   srtp_unprotect / srtp_unprotect_rtcp   size_t lengths, mki_index argument)
 *   srtp_stream_remove                    (libsrtp2: srtp_remove_stream)
 *   srtp_err_status_buffer_small / srtp_err_status_cryptex_err (new codes)
 *
 * and, when MS_SRTP3_OPAQUE_POLICY is defined (newer mediasoup such as
 * 3.27.1, which uses libsrtp 3's opaque policy object; the build script defines it when it sees
 * srtp_policy_create() in the worker sources):
 *
 *   srtp_policy_t (opaque pointer), srtp_policy_create, srtp_policy_destroy,
 *   srtp_policy_set_ssrc, srtp_policy_set_profile, srtp_policy_add_key,
 *   srtp_policy_set_allow_repeat_tx, srtp_policy_set_window_size, srtp_create
 *
 * Everything here is C++ (the worker is C++ only). Limitations: MKI is not
 * supported (mediasoup never uses it), cryptex is not supported (libsrtp2 has
 * none; mediasoup does not enable it).
 */
#ifndef STREAMMESH_SRTP3_COMPAT_H
#define STREAMMESH_SRTP3_COMPAT_H

#include <srtp2/srtp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

/* Error codes added in libsrtp 3 (same numeric values as libsrtp 3). */
#define srtp_err_status_buffer_small (static_cast<srtp_err_status_t>(28))
#define srtp_err_status_cryptex_err (static_cast<srtp_err_status_t>(29))

/* Upper bound of what libsrtp2 appends to a packet when MKI is not used: the
 * auth tag (<= SRTP_MAX_TAG_LEN) plus, for SRTCP, the 4 byte E+index word. */
#define STREAMMESH_SRTP2_MAX_GROWTH (SRTP_MAX_TAG_LEN + 4)

namespace streammesh_srtp3_compat
{
	using Libsrtp2InPlaceFn = srtp_err_status_t (*)(srtp_t, void*, int*);

	inline srtp_err_status_t Protect(
	  Libsrtp2InPlaceFn fn,
	  srtp_t ctx,
	  const uint8_t* in,
	  size_t inLen,
	  uint8_t* out,
	  size_t* outLen,
	  size_t mkiIndex)
	{
		if (mkiIndex != 0)
		{
			return srtp_err_status_bad_mki;
		}

		if (in == nullptr || out == nullptr || outLen == nullptr || inLen > 0x7fffffff)
		{
			return srtp_err_status_bad_param;
		}

		if (*outLen < inLen + STREAMMESH_SRTP2_MAX_GROWTH)
		{
			return srtp_err_status_buffer_small;
		}

		if (out != in)
		{
			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(ctx, out, &len);

		if (err == srtp_err_status_ok)
		{
			*outLen = static_cast<size_t>(len);
		}

		return err;
	}

	inline srtp_err_status_t Unprotect(
	  Libsrtp2InPlaceFn fn, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen)
	{
		if (in == nullptr || out == nullptr || outLen == nullptr || inLen > 0x7fffffff)
		{
			return srtp_err_status_bad_param;
		}

		if (out != in)
		{
			if (*outLen < inLen)
			{
				return srtp_err_status_buffer_small;
			}

			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(ctx, out, &len);

		if (err == srtp_err_status_ok)
		{
			*outLen = static_cast<size_t>(len);
		}

		return err;
	}

	inline srtp_err_status_t Libsrtp2ProtectRtp(srtp_t ctx, void* hdr, int* len)
	{
		return ::srtp_protect(ctx, hdr, len);
	}

	inline srtp_err_status_t Libsrtp2ProtectRtcp(srtp_t ctx, void* hdr, int* len)
	{
		return ::srtp_protect_rtcp(ctx, hdr, len);
	}

	inline srtp_err_status_t Libsrtp2UnprotectRtp(srtp_t ctx, void* hdr, int* len)
	{
		return ::srtp_unprotect(ctx, hdr, len);
	}

	inline srtp_err_status_t Libsrtp2UnprotectRtcp(srtp_t ctx, void* hdr, int* len)
	{
		return ::srtp_unprotect_rtcp(ctx, hdr, len);
	}
} // namespace streammesh_srtp3_compat

inline srtp_err_status_t streammesh_srtp3_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t mkiIndex = 0)
{
	return streammesh_srtp3_compat::Protect(
	  streammesh_srtp3_compat::Libsrtp2ProtectRtp, ctx, rtp, rtpLen, srtp, srtpLen, mkiIndex);
}

inline srtp_err_status_t streammesh_srtp3_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t mkiIndex = 0)
{
	return streammesh_srtp3_compat::Protect(
	  streammesh_srtp3_compat::Libsrtp2ProtectRtcp, ctx, rtcp, rtcpLen, srtcp, srtcpLen, mkiIndex);
}

inline srtp_err_status_t streammesh_srtp3_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen)
{
	return streammesh_srtp3_compat::Unprotect(
	  streammesh_srtp3_compat::Libsrtp2UnprotectRtp, ctx, srtp, srtpLen, rtp, rtpLen);
}

inline srtp_err_status_t streammesh_srtp3_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen)
{
	return streammesh_srtp3_compat::Unprotect(
	  streammesh_srtp3_compat::Libsrtp2UnprotectRtcp, ctx, srtcp, srtcpLen, rtcp, rtcpLen);
}

inline srtp_err_status_t streammesh_srtp3_stream_remove(srtp_t session, uint32_t ssrc)
{
	return ::srtp_remove_stream(session, ssrc);
}

#define srtp_protect streammesh_srtp3_protect
#define srtp_protect_rtcp streammesh_srtp3_protect_rtcp
#define srtp_unprotect streammesh_srtp3_unprotect
#define srtp_unprotect_rtcp streammesh_srtp3_unprotect_rtcp
#define srtp_stream_remove streammesh_srtp3_stream_remove

#ifdef MS_SRTP3_OPAQUE_POLICY

struct streammesh_srtp3_policy_ctx
{
	::srtp_policy_t policy;
	unsigned char key[SRTP_MAX_KEY_LEN];
};

using streammesh_srtp3_policy_t = streammesh_srtp3_policy_ctx*;

inline srtp_err_status_t streammesh_srtp3_policy_create(streammesh_srtp3_policy_t* policy)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	auto* ctx = new (std::nothrow) streammesh_srtp3_policy_ctx;

	if (ctx == nullptr)
	{
		return srtp_err_status_alloc_fail;
	}

	std::memset(ctx, 0, sizeof(*ctx));
	ctx->policy.key  = ctx->key;
	ctx->policy.next = nullptr;
	*policy          = ctx;

	return srtp_err_status_ok;
}

inline void streammesh_srtp3_policy_destroy(streammesh_srtp3_policy_t policy)
{
	if (policy != nullptr)
	{
		// Wipe the key material before freeing.
		volatile unsigned char* p = policy->key;

		for (size_t i = 0; i < sizeof(policy->key); ++i)
		{
			p[i] = 0;
		}

		delete policy;
	}
}

inline srtp_err_status_t streammesh_srtp3_policy_set_ssrc(streammesh_srtp3_policy_t policy, srtp_ssrc_t ssrc)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.ssrc = ssrc;

	return srtp_err_status_ok;
}

inline srtp_err_status_t streammesh_srtp3_policy_set_profile(
  streammesh_srtp3_policy_t policy, srtp_profile_t profile)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	switch (profile)
	{
		case srtp_profile_aes128_cm_sha1_80:
		{
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->policy.rtp);
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->policy.rtcp);

			return srtp_err_status_ok;
		}

		case srtp_profile_aes128_cm_sha1_32:
		{
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy->policy.rtp);
			// RFC 5764: SRTCP always uses an 80 bit tag.
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->policy.rtcp);

			return srtp_err_status_ok;
		}

		case srtp_profile_aead_aes_128_gcm:
		{
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy->policy.rtp);
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy->policy.rtcp);

			return srtp_err_status_ok;
		}

		case srtp_profile_aead_aes_256_gcm:
		{
			srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy->policy.rtp);
			srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy->policy.rtcp);

			return srtp_err_status_ok;
		}

		default:
		{
			return srtp_err_status_bad_param;
		}
	}
}

inline srtp_err_status_t streammesh_srtp3_policy_add_key(
  streammesh_srtp3_policy_t policy,
  const uint8_t* key,
  size_t keyLen,
  const uint8_t* salt,
  size_t saltLen,
  const uint8_t* /*mki*/,
  size_t mkiLen)
{
	if (policy == nullptr || key == nullptr || (saltLen != 0 && salt == nullptr))
	{
		return srtp_err_status_bad_param;
	}

	// MKI is not supported by this shim (mediasoup does not use it).
	if (mkiLen != 0)
	{
		return srtp_err_status_bad_mki;
	}

	// libsrtp2 takes the master key and the master salt concatenated.
	if (keyLen + saltLen > sizeof(policy->key))
	{
		return srtp_err_status_bad_param;
	}

	if (static_cast<int>(keyLen + saltLen) != policy->policy.rtp.cipher_key_len)
	{
		return srtp_err_status_bad_param;
	}

	std::memcpy(policy->key, key, keyLen);

	if (saltLen != 0)
	{
		std::memcpy(policy->key + keyLen, salt, saltLen);
	}

	policy->policy.key = policy->key;

	return srtp_err_status_ok;
}

inline srtp_err_status_t streammesh_srtp3_policy_set_allow_repeat_tx(
  streammesh_srtp3_policy_t policy, bool allow)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.allow_repeat_tx = allow ? 1 : 0;

	return srtp_err_status_ok;
}

inline srtp_err_status_t streammesh_srtp3_policy_set_window_size(
  streammesh_srtp3_policy_t policy, size_t windowSize)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.window_size = static_cast<unsigned long>(windowSize);

	return srtp_err_status_ok;
}

inline srtp_err_status_t streammesh_srtp3_create(srtp_t* session, streammesh_srtp3_policy_t policy)
{
	if (policy == nullptr)
	{
		return srtp_err_status_bad_param;
	}

	return ::srtp_create(session, &policy->policy);
}

#define srtp_policy_t streammesh_srtp3_policy_t
#define srtp_policy_create streammesh_srtp3_policy_create
#define srtp_policy_destroy streammesh_srtp3_policy_destroy
#define srtp_policy_set_ssrc streammesh_srtp3_policy_set_ssrc
#define srtp_policy_set_profile streammesh_srtp3_policy_set_profile
#define srtp_policy_add_key streammesh_srtp3_policy_add_key
#define srtp_policy_set_allow_repeat_tx streammesh_srtp3_policy_set_allow_repeat_tx
#define srtp_policy_set_window_size streammesh_srtp3_policy_set_window_size
#define srtp_create streammesh_srtp3_create

#endif /* MS_SRTP3_OPAQUE_POLICY */

#endif /* STREAMMESH_SRTP3_COMPAT_H */
