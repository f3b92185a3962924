// Exact LRU order of up to 16 ways in one 64-bit word: nibble i holds the way at recency
// position i (0 = most recently used, n-1 = least recently used). A touch, a demotion to the
// least recent end and reading the victim are a few bit operations, with no search whose
// branches depend on the data. Used by the set-associative TLB arrays and by the small fully
// associative paging-structure caches.
#pragma once

#include <cstdint>

namespace mmemu::recency {

// The nibbles of an order word of n ways (n <= 16).
constexpr uint64_t mask_of(unsigned n) {
    return n == 16 ? ~0ull : (uint64_t{1} << (4 * n)) - 1;
}
// The least recently used way, `victim` (as lru() names it), becomes the most recently used:
// touch() without the search, given the word's mask (mask_of(n)). Its nibble shifts out of the
// word's n nibbles and comes back in front.
inline void touch_lru(uint64_t& order, unsigned victim, uint64_t mask) {
    order = ((order << 4) | victim) & mask;
}

// The order of a fresh set of n ways (n <= 16): way 0 least recent, so an empty set is filled
// in the order 0, 1, 2, ...
inline uint64_t initial(unsigned n) {
    uint64_t o = 0;
    for (unsigned w = 0; w < n; w++) o |= uint64_t(n - 1 - w) << (4 * w);
    return o;
}

// The position of `way` in the order (it must be there). SWAR: the nibble equal to `way` is
// the lowest zero nibble of order ^ way...way, and the borrow trick finds exactly the lowest one.
inline unsigned position(uint64_t order, unsigned way) {
    const uint64_t x = order ^ (0x1111111111111111ull * way);
    const uint64_t zero = (x - 0x1111111111111111ull) & ~x & 0x8888888888888888ull;
    return unsigned(__builtin_ctzll(zero)) >> 2;
}

// `way` becomes the most recently used.
inline void touch(uint64_t& order, unsigned way) {
    const unsigned p4 = 4 * position(order, way);
    const uint64_t below = order & ((uint64_t{1} << p4) - 1); // the nibbles more recent than it
    // The nibbles less recent than it stay; those more recent move one place down.
    const uint64_t above = (order >> p4 >> 4) << 4 << p4;
    order = above | below << 4 | way;
}

// `way` becomes the least recently used of the n ways (an invalidated entry: the next victim).
inline void demote(uint64_t& order, unsigned way, unsigned n) {
    const unsigned p = position(order, way), last = n - 1;
    if (p == last) return;
    // The nibbles between it and the least recent end move one step more recent.
    const uint64_t upto_last = last == 15 ? ~0ull : (uint64_t{1} << (4 * (last + 1))) - 1;
    const uint64_t upto_p = (uint64_t{1} << (4 * (p + 1))) - 1;
    const uint64_t below = (uint64_t{1} << (4 * p)) - 1;
    order = (order & below) | (order & upto_last & ~upto_p) >> 4 | uint64_t(way) << (4 * last) |
            (order & ~upto_last);
}

// The least recently used of the n ways.
inline unsigned lru(uint64_t order, unsigned n) {
    return unsigned(order >> (4 * (n - 1))) & 0xf;
}

} // namespace mmemu::recency
