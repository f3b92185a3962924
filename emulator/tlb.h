// Translation lookaside buffers and paging-structure caches (Intel SDM Vol. 3A 4.10).
//
// A TlbArray is one set-associative structure that holds translations of one or more page
// sizes (a unified second-level TLB holds 4K and 2M entries in the same sets). Entries carry a
// 12-bit PCID tag and a global bit; a page larger than every size an array holds is cached as a
// splinter of the largest size it does hold, as real L1 TLBs do for 1 GiB pages.
//
// Layout for speed: the match key of every entry (tag, PCID or global, size, valid) is one
// 64-bit word in a flat array, a set's keys side by side, so a lookup reads one short run of
// words and compares each twice (its PCID, or global); the payload (frame, rights, cached
// permission decisions) and the replacement state live in arrays of their own and are touched
// only on a hit or a fill.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emulator/paging.h"
#include "emulator/recency_order.h"

namespace mmemu {

enum class ReplacementPolicy : uint8_t { lru, plru };

struct TlbArrayConfig {
    std::string name; // e.g. "dtlb_4k"
    unsigned entries = 64;
    unsigned ways = 4;     // entries / ways sets, a power of two
    uint8_t size_mask = 1; // bit 0: 4K, bit 1: 2M, bit 2: 4M, bit 3: 1G
    ReplacementPolicy policy = ReplacementPolicy::lru;
};

inline constexpr uint8_t TLB_4K = 1, TLB_2M = 2, TLB_4M = 4, TLB_1G = 8;
inline constexpr unsigned size_bit_shift(unsigned bit) {
    return bit == 0 ? 12 : bit == 1 ? 21 : bit == 2 ? 22 : 30;
}
// The size bit of a page shift (12, 21, 22 or 30).
inline constexpr uint8_t SIZE_BIT_OF_SHIFT[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                  0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0};
inline constexpr unsigned size_bit_of_shift(unsigned shift) {
    return SIZE_BIT_OF_SHIFT[shift & 31];
}

// What a valid entry holds besides its key.
struct TlbEntry {
    PhysAddr frame; // physical address of the (splinter's) first byte
    PageRights rights;
    uint8_t shift = 0;      // the size this entry maps
    uint8_t page_shift = 0; // the size of the page the walk found (>= shift when splintered)
    bool global = false;
    bool dirty = false;
    uint16_t pcid = 0;
    // The permission decision for each kind of access, cached for one generation of the
    // control-register state (Mmu bumps the generation on every register write).
    uint16_t perm_mask = 0;
    uint32_t perm_gen = 0; // 0: not computed
    // The physical base of the whole page (of page_shift) when this entry translates `la`.
    PhysAddr page_base(LinearAddr la) const {
        return PhysAddr{frame.value -
                        (la.value & ((1ull << page_shift) - 1) & ~((1ull << shift) - 1))};
    }
};

// What a fill caches: the page the walk (or the STLB entry refilling an L1 TLB) found.
struct TlbFill {
    PhysAddr frame;           // physical base of the page
    unsigned page_shift = 12; // its size
    PageRights rights;
    bool global = false;
    bool dirty = false;
    static TlbFill of(const WalkResult& w) {
        return TlbFill{w.frame_pa, w.page_shift, w.rights, w.global, w.dirty};
    }
};

struct TlbStats {
    uint64_t hits = 0, misses = 0, fills = 0, evictions = 0, invalidations = 0;
};

class TlbArray {
public:
    explicit TlbArray(const TlbArrayConfig& cfg);
    const TlbArrayConfig& config() const { return cfg_; }
    bool holds(unsigned page_shift) const;

    // The entry served or filled last, if it translates `la` for `pcid` (see lookup()); no
    // miss counted.
    TlbEntry* mru_lookup(LinearAddr la, uint16_t pcid) {
        if ((la.value >> mru_shift_) == mru_tag_ && (mru_global_ || mru_pcid_ == pcid)) {
            stats.hits++;
            return mru_;
        }
        return nullptr;
    }
    // lookup() after mru_lookup() missed (or where the MRU entry is unlikely to serve: the
    // STLB, probed after the L1 TLB missed).
    TlbEntry* lookup_rest(LinearAddr la, uint16_t pcid) {
        if (empty()) {
            stats.misses++;
            return nullptr;
        }
        return lookup_sets(la, pcid);
    }
    // Where a probe of a single-size array looked for a page: its tag and set, which a fill
    // of that page after the probe missed reuses (refill_probed()). Not `valid` after probing
    // an array of several sizes.
    struct Probe {
        uint64_t tag = 0;
        unsigned set = 0;
        bool valid = false;
    };
    // lookup_rest(), keeping where it looked in `p`.
    TlbEntry* lookup_rest(LinearAddr la, uint16_t pcid, Probe& p) {
        if (nshifts_ != 1) return lookup_rest(la, pcid);
        const unsigned shift = shifts_[0];
        p.tag = (la.value & LA_BITS) >> shift;
        p.set = unsigned(p.tag & set_mask_);
        p.valid = true;
        if (valid_) {
            const unsigned w = find(p.set, make_key(p.tag, pcid, size_bits_[0]));
            if (w != ways_) return hit(p.set, w, la.value >> shift);
        }
        stats.misses++;
        return nullptr;
    }
    // Finds a valid entry translating `la` for `pcid` (global entries match any PCID).
    TlbEntry* lookup(LinearAddr la, uint16_t pcid) {
        if (empty()) { // nothing to probe (an array of sizes the workload does not use)
            stats.misses++;
            return nullptr;
        }
        // The entry this array served or filled last is the most recently used one of its
        // set, so serving it again needs neither the set probe nor a replacement-state update:
        // the TLB's state is exactly what the full lookup would leave. (Only for single-size
        // arrays, where no other entry can also match.) Every invalidation forgets it, so an
        // empty array has none.
        if (TlbEntry* e = mru_lookup(la, pcid)) return e;
        return lookup_sets(la, pcid);
    }
    // Caches a translation (splintered to the largest size this array holds). Returns false if
    // the array holds no size small enough.
    // `absent` as for refill() below.
    bool fill(LinearAddr la, uint16_t pcid, const TlbFill& f, bool absent = false);
    bool fill(LinearAddr la, uint16_t pcid, const WalkResult& w) {
        return fill(la, pcid, TlbFill::of(w));
    }
    // Caches a copy of `src`, an entry of another array that translates `la` (an L1 TLB
    // refilled from the STLB):
    // the same page size, so the same key and payload, cached decisions included. Returns false
    // if this array does not hold that size.
    // `absent`: the caller has just probed this array for the page and missed, so no entry
    // for it (or its global twin) can be in the set and the match check is skipped.
    bool refill(LinearAddr la, const TlbEntry* src, uint16_t pcid, bool absent);
    // refill() right after `p`, a probe of this array for the page, missed: the entry goes to
    // the probed set with no match check. Returns false (and does nothing) unless the probe
    // was of a single-size array and `src` has that size.
    bool refill_probed(const Probe& p, LinearAddr la, const TlbEntry* src, uint16_t pcid);
    // INVLPG semantics: entries for `la`'s page with `pcid`, and global ones with any PCID.
    void invalidate_page(LinearAddr la, uint16_t pcid, bool include_global);
    // Entries of one PCID (non-global unless `include_global`), or of all PCIDs (pcid < 0).
    void invalidate(int pcid, bool include_global);
    void invalidate_entry(TlbEntry* e) { invalidate_slot(unsigned(e - payload_.data())); }
    unsigned valid_entries() const;
    bool empty() const { return valid_ == 0; }
    TlbStats stats;

private:
    // Picks the way of `set` a new entry with key `k` goes to (see fill()), keeping the counts.
    unsigned place(unsigned set, uint64_t k, unsigned kidx, bool absent = false);
    // place() for the policies other than the recency-order word (out of line: rare).
    [[gnu::noinline]] unsigned place_unordered(unsigned set, uint64_t k, unsigned kidx,
                                               bool absent);
    // Keys: bits 63:16 the tag (linear address >> the entry's shift, bits above 56 dropped:
    // every address the TLB sees is canonical), bits 15:3 the PCID or GLOBAL_KEY, bits 2:1 the
    // size, bit 0 valid. Zero is an invalid entry.
    static constexpr uint64_t LA_BITS = (uint64_t{1} << 57) - 1;
    static constexpr uint64_t GLOBAL_KEY = 0x1000;
    static constexpr uint64_t PCID_FIELD = uint64_t{0x1fff} << 3;
    static uint64_t make_key(uint64_t tag, uint64_t pcid_field, unsigned size_bit) {
        return tag << 16 | pcid_field << 3 | uint64_t(size_bit) << 1 | 1;
    }
    TlbEntry* lookup_sets(LinearAddr la, uint16_t pcid);
    // Writes a copy of `src` (another array's entry, of size `size_bit`) with tag `tag` into
    // `way` of `set`, under the current PCID (or global).
    TlbEntry* copy_into(unsigned set, unsigned way, uint64_t tag, unsigned size_bit,
                        const TlbEntry* src, uint16_t pcid);
    TlbEntry* hit(unsigned set, unsigned way, uint64_t mru_tag) {
        const size_t slot = size_t(set) * ways_ + way;
        touch(set, way);
        stats.hits++;
        TlbEntry* e = &payload_[slot];
        if (nshifts_ == 1) remember(e, mru_tag);
        return e;
    }
    // The way of `set` whose key is k or k's global twin, or ways_ if none.
    unsigned find(unsigned set, uint64_t k) const {
        const uint64_t* __restrict keys = keys_.data() + size_t(set) * ways_;
        const uint64_t kg = (k & ~PCID_FIELD) | GLOBAL_KEY << 3;
        const unsigned ways = ways_;
        for (unsigned w = 0; w < ways; w++)
            if ((keys[w] == k) | (keys[w] == kg)) return w;
        return ways;
    }
    // Replacement state. LRU with at most 16 ways keeps each set's ways in a recency-order word
    // (recency_order.h), so a touch is a few bit operations and the victim is read off;
    // invalidated ways are moved to the least recent end, so an invalid way is always taken
    // before a valid one is evicted. Wider LRU sets keep a stamp per entry; tree-PLRU keeps
    // ways-1 bits per set.
    void touch(unsigned set, unsigned way) {
        if (repl_ == Repl::order) [[likely]]
            recency::touch(order_[set], way);
        else
            touch_unordered(set, way);
    }
    [[gnu::noinline]] void touch_unordered(unsigned set, unsigned way);
    void invalidate_slot(unsigned slot) {
        size_count_[size_index_of(keys_[slot])]--;
        valid_--;
        if (repl_ == Repl::order) recency::demote(order_[slot / ways_], slot % ways_, ways_);
        keys_[slot] = 0;
        forget();
        stats.invalidations++;
    }
    // Keeps the counts of valid entries by size as an entry of size `kidx` takes the place of
    // `replaced` (0: an invalid way); nothing changes when an entry of the same size is
    // replaced, the common case.
    [[gnu::always_inline]] void count_replaced(uint64_t replaced, unsigned kidx) {
        if (!replaced) {
            valid_++;
            size_count_[kidx]++;
        } else if (nshifts_ > 1) {
            if (const unsigned old = size_index_of(replaced); old != kidx) {
                size_count_[old]--;
                size_count_[kidx]++;
            }
        }
    }
    // The position in shifts_ of a valid key's size.
    unsigned size_index_of(uint64_t key) const { return index_of_size_bit_[(key >> 1) & 3]; }
    void plru_touch(unsigned set, unsigned way);
    unsigned plru_victim(unsigned set) const;
    TlbArrayConfig cfg_;
    unsigned ways_;
    enum class Repl : uint8_t { order, stamps, plru } repl_;
    uint64_t set_mask_;
    std::vector<uint64_t> keys_;
    std::vector<TlbEntry> payload_;
    std::vector<uint64_t> order_;  // LRU up to 16 ways: per set, the ways in recency order
    uint64_t order_mask_ = 0;      // recency::mask_of(ways)
    std::vector<uint64_t> stamps_; // LRU above 16 ways: the clock at the last use of each entry
    std::vector<uint64_t> plru_bits_;
    uint64_t clock_ = 0;
    bool splinters_ = false;    // some entry caches part of a larger page
    uint8_t shifts_[4] = {};    // the page shifts this array holds, ascending
    uint8_t size_bits_[4] = {}; // their size bits (0 4K, 1 2M, 2 4M, 3 1G)
    uint8_t index_of_size_bit_[4] = {};
    // For a page of each size (size bit), the position in shifts_ of the size it is cached at
    // (the largest held size not above it), 0xff if none.
    uint8_t fill_index_[4] = {};
    unsigned nshifts_ = 0;
    // Valid entries of each size (by position in shifts_): a lookup skips the sizes the array
    // holds none of, which leaves its result unchanged.
    uint32_t size_count_[4] = {};
    uint32_t valid_ = 0; // all sizes
    // The entry lookup() returned or a fill made last in a single-size array (see lookup()),
    // with its match key copied so the check needs no load through the pointer. A tag no
    // shifted address can equal means "none".
    TlbEntry* mru_ = nullptr;
    uint64_t mru_tag_ = ~0ull;
    unsigned mru_shift_ = 0;
    uint16_t mru_pcid_ = 0;
    bool mru_global_ = false;
    void remember(TlbEntry* e, uint64_t tag) {
        mru_ = e;
        mru_tag_ = tag;
        mru_shift_ = e->shift;
        mru_pcid_ = e->pcid;
        mru_global_ = e->global;
    }
    void forget() {
        mru_ = nullptr;
        mru_tag_ = ~0ull; // la >> 12 never has all 64 bits set
        mru_shift_ = 0;
        mru_global_ = false;
    }
};

// ---- the probe and fill paths, inline: they run on every TLB miss -------------------------

inline TlbEntry* TlbArray::lookup_sets(LinearAddr la, uint16_t pcid) {
    const uint64_t la_bits = la.value & LA_BITS;
    if (nshifts_ == 1) {
        const unsigned shift = shifts_[0];
        const uint64_t tag = la_bits >> shift;
        const unsigned set = unsigned(tag & set_mask_);
        const unsigned w = find(set, make_key(tag, pcid, size_bits_[0]));
        if (w != ways_) return hit(set, w, la.value >> shift);
    } else {
        for (unsigned k = 0; k < nshifts_; k++) {
            if (!size_count_[k]) continue;
            const unsigned shift = shifts_[k];
            const uint64_t tag = la_bits >> shift;
            const unsigned set = unsigned(tag & set_mask_);
            const unsigned w = find(set, make_key(tag, pcid, size_bits_[k]));
            if (w != ways_) return hit(set, w, la.value >> shift);
        }
    }
    stats.misses++;
    return nullptr;
}

inline unsigned TlbArray::place(unsigned set, uint64_t k, unsigned kidx, bool absent) {
    // An entry for the same page is replaced in place (unless the caller knows there is none),
    // else an invalid way is used, else the policy's victim.
    if (repl_ != Repl::order) [[unlikely]]
        return place_unordered(set, k, kidx, absent);
    const uint64_t* __restrict keys = keys_.data() + size_t(set) * ways_;
    const unsigned ways = ways_;
    const unsigned found = absent ? ways : find(set, k);
    if (found != ways) {
        count_replaced(keys[found], kidx);
        recency::touch(order_[set], found);
        stats.fills++;
        return found;
    }
    // The least recent way (an invalid one if any: they sit at that end) becomes the most
    // recent: a rotation of the order word, no search.
    const unsigned victim = recency::lru(order_[set], ways);
    if (keys[victim]) stats.evictions++;
    count_replaced(keys[victim], kidx);
    recency::touch_lru(order_[set], victim, order_mask_);
    stats.fills++;
    return victim;
}

inline bool TlbArray::refill(LinearAddr la, const TlbEntry* src, uint16_t pcid, bool absent) {
    forget();
    // The entry's size must be one this array holds (else the caller splinters it with fill()).
    const unsigned size_bit = size_bit_of_shift(src->shift);
    const unsigned kidx = fill_index_[size_bit];
    if (kidx == 0xff || shifts_[kidx] != src->shift) return false;
    // The key, from the address and the entry (no load from the other array).
    const uint64_t tag = (la.value & LA_BITS) >> src->shift;
    const unsigned set = unsigned(tag & set_mask_);
    // As fill(): an entry for the page under the current PCID, or a global one, is replaced.
    const unsigned victim = place(set, make_key(tag, pcid, size_bit), kidx, absent);
    copy_into(set, victim, tag, size_bit, src, pcid);
    return true;
}

inline TlbEntry* TlbArray::copy_into(unsigned set, unsigned way, uint64_t tag, unsigned size_bit,
                                     const TlbEntry* src, uint16_t pcid) {
    const size_t slot = size_t(set) * ways_ + way;
    keys_[slot] = make_key(tag, src->global ? GLOBAL_KEY : pcid, size_bit);
    TlbEntry* e = &payload_[slot];
    *e = *src;
    e->pcid = pcid;
    if (src->shift < src->page_shift) splinters_ = true;
    return e;
}

inline bool TlbArray::fill(LinearAddr la, uint16_t pcid, const TlbFill& w, bool absent) {
    forget();
    // The largest size this array holds that is not larger than the page.
    const unsigned kidx = fill_index_[size_bit_of_shift(w.page_shift)];
    if (kidx == 0xff) return false;
    const unsigned shift = shifts_[kidx], size_bit = size_bits_[kidx];
    if (shift < w.page_shift) splinters_ = true;
    const uint64_t tag = (la.value & LA_BITS) >> shift;
    const unsigned set = unsigned(tag & set_mask_);
    const uint64_t key = make_key(tag, w.global ? GLOBAL_KEY : pcid, size_bit);
    const unsigned victim = place(set, make_key(tag, pcid, size_bit), kidx, absent);
    const size_t base = size_t(set) * ways_;
    keys_[base + victim] = key;
    TlbEntry& e = payload_[base + victim];
    e.shift = uint8_t(shift);
    e.page_shift = uint8_t(w.page_shift);
    e.frame = w.frame + (la.value & ((1ull << w.page_shift) - 1) & ~((1ull << shift) - 1));
    e.pcid = pcid;
    e.rights = w.rights;
    e.global = w.global;
    e.dirty = w.dirty;
    e.perm_gen = 0;
    if (nshifts_ == 1) remember(&e, la.value >> shift); // the most recent of its set
    return true;
}

inline bool TlbArray::refill_probed(const Probe& p, LinearAddr la, const TlbEntry* src,
                                    uint16_t pcid) {
    if (!p.valid || src->shift != shifts_[0]) return false;
    const unsigned victim = place(p.set, 0, 0, true);
    TlbEntry* e = copy_into(p.set, victim, p.tag, size_bits_[0], src, pcid);
    // The new entry is the most recent of its set: the one lookup() may serve without a probe
    // (the next access is often to the same page).
    remember(e, la.value >> src->shift);
    return true;
}

// One paging-structure cache (SDM 4.10.3): entries for a level's paging-structure entries,
// keyed by the linear-address bits that select them and the PCID, holding the physical address
// of the next table and the rights accumulated so far. Fully associative with exact LRU
// replacement. Up to 16 entries it is searched like a TLB set (a scan of 16 keys at most and a
// recency-order word); above that a lookup is one probe of a hash index over the keys and the
// LRU order is a doubly linked list through the entries, so a hit, a fill and an eviction each
// cost O(1).
struct PscEntry {
    PhysAddr table_pa;
    PageRights rights;
};

class PagingStructureCache {
public:
    PagingStructureCache(std::string name, int level, unsigned entries);
    const std::string& name() const { return name_; }
    int level() const { return level_; } // the level of the cached entries (2 = PDE cache)
    unsigned size() const { return unsigned(keys_.size()); }
    const PscEntry* lookup(uint64_t tag, uint16_t pcid) {
        const int slot = find(make_key(tag, pcid));
        if (slot < 0) {
            stats.misses++;
            return nullptr;
        }
        stats.hits++;
        if (small_)
            recency::touch(order_, unsigned(slot));
        else
            to_front(unsigned(slot));
        return &data_[unsigned(slot)];
    }
    // `absent`: the caller has just looked the tag up and missed, so no entry for it is
    // searched for.
    void fill(uint64_t tag, uint16_t pcid, PhysAddr table_pa, const PageRights& rights,
              bool absent = false) {
        const uint64_t key = make_key(tag, pcid);
        if (!small_) return fill_large(key, table_pa, rights, absent);
        if (!n_) return;
        const int found = absent ? -1 : find(key);
        unsigned slot;
        if (found >= 0) {
            slot = unsigned(found);
            recency::touch(order_, slot);
        } else {
            // The least recent entry: an invalid one if any (they sit at that end).
            slot = recency::lru(order_, n_);
            if (keys_[slot] != INVALID)
                stats.evictions++;
            else
                valid_++;
            keys_[slot] = key;
            recency::touch_lru(order_, slot, order_mask_);
        }
        data_[slot] = {table_pa, rights};
        stats.fills++;
    }
    void invalidate(int pcid); // < 0: every PCID
    unsigned valid_entries() const { return valid_; }
    TlbStats stats;

private:
    // Tags are linear-address bits above bit 20 (at most 43 bits): the PCID goes above them.
    static constexpr uint64_t INVALID = ~0ull;
    static constexpr uint32_t NIL = ~0u; // an empty bucket (ends a probe)
    static uint64_t make_key(uint64_t tag, uint16_t pcid) { return tag | uint64_t(pcid) << 48; }
    size_t bucket(uint64_t key) const {
        return size_t((key * 0x9e3779b97f4a7c15ull) >> 32) & index_mask_;
    }
    int find(uint64_t key) const {
        if (small_) {
            const uint64_t* __restrict keys = keys_.data();
            const unsigned n = n_;
            for (unsigned slot = 0; slot < n; slot++)
                if (keys[slot] == key) return int(slot);
            return -1;
        }
        for (size_t b = bucket(key);; b = (b + 1) & index_mask_) {
            const uint32_t slot = index_[b];
            if (slot == NIL) return -1;
            if (keys_[slot] == key) return int(slot);
        }
    }
    void fill_large(uint64_t key, PhysAddr table_pa, const PageRights& rights, bool absent);
    void index_insert(uint32_t slot);
    void index_erase(uint32_t slot);
    void to_front(uint32_t slot);
    void unlink(uint32_t slot);
    void push_front(uint32_t slot);
    void drop(uint32_t slot); // invalidate one entry
    std::string name_;
    int level_;
    // A cache of at most 16 entries is kept like one TLB set: a scan of its keys and a
    // recency-order word (invalid entries at the least recent end). A larger one uses the hash
    // index and the LRU list below.
    bool small_;
    unsigned n_; // entries
    uint64_t order_ = 0;
    uint64_t order_mask_ = 0;    // recency::mask_of(n_) when small_
    std::vector<uint64_t> keys_; // INVALID when the entry is free
    std::vector<PscEntry> data_;
    std::vector<uint32_t> prev_, next_; // LRU list, most recent at head_
    uint32_t head_ = NIL, tail_ = NIL;
    std::vector<uint32_t> free_; // invalid entries, taken from the back
    // Open addressing with linear probing: an entry number or NIL per bucket, at most half
    // full. An entry's bucket is kept in pos_; removing it shifts the entries of the probe run
    // after it back into the gap (backward-shift deletion), so there are no tombstones and a
    // probe ends at the first empty bucket.
    std::vector<uint32_t> index_;
    std::vector<uint32_t> pos_;
    size_t index_mask_ = 0;
    unsigned valid_ = 0;
};

} // namespace mmemu
