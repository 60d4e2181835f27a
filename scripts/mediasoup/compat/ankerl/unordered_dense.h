/*
 * streammesh: minimal stand-in for ankerl::unordered_dense
 * (https://github.com/martinus/unordered_dense). Newer mediasoup workers
 * (e.g. 3.27.1, not 3.19.3) take it from a meson subproject downloaded from
 * GitHub, and Debian does not package it. scripts/mediasoup-worker.mjs puts this directory
 * on the include path for its offline build.
 *
 * map/set are aliases of std::unordered_map/std::unordered_set and hash<T> is
 * std::hash<T>. Functionally equivalent for mediasoup's use (lookups, inserts,
 * erases, iteration); differences: iteration order is not insertion order,
 * and performance characteristics are those of the node-based std containers.
 */
#ifndef STREAMMESH_ANKERL_UNORDERED_DENSE_COMPAT_H
#define STREAMMESH_ANKERL_UNORDERED_DENSE_COMPAT_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ankerl
{
	namespace unordered_dense
	{
		template<class T, class Enable = void>
		struct hash : std::hash<T>
		{
			[[nodiscard]] uint64_t operator()(const T& value) const
			{
				return static_cast<uint64_t>(std::hash<T>::operator()(value));
			}
		};

		// Extra template parameters of the real library (allocator/container,
		// bucket type) are accepted and ignored.
		template<
		  class Key,
		  class T,
		  class Hash     = hash<Key>,
		  class KeyEqual = std::equal_to<Key>,
		  class... Ignored>
		using map = std::unordered_map<Key, T, Hash, KeyEqual>;

		template<class Key, class Hash = hash<Key>, class KeyEqual = std::equal_to<Key>, class... Ignored>
		using set = std::unordered_set<Key, Hash, KeyEqual>;

		template<
		  class Key,
		  class T,
		  class Hash     = hash<Key>,
		  class KeyEqual = std::equal_to<Key>,
		  class... Ignored>
		using segmented_map = std::unordered_map<Key, T, Hash, KeyEqual>;

		template<class Key, class Hash = hash<Key>, class KeyEqual = std::equal_to<Key>, class... Ignored>
		using segmented_set = std::unordered_set<Key, Hash, KeyEqual>;

		namespace v4
		{
			using ::ankerl::unordered_dense::hash;
			using ::ankerl::unordered_dense::map;
			using ::ankerl::unordered_dense::segmented_map;
			using ::ankerl::unordered_dense::segmented_set;
			using ::ankerl::unordered_dense::set;
		} // namespace v4
	} // namespace unordered_dense
} // namespace ankerl

#endif /* STREAMMESH_ANKERL_UNORDERED_DENSE_COMPAT_H */
