// Translation lookaside buffers and paging-structure caches (Intel SDM Vol. 3A 4.10).
//
// A TlbArray is one set-associative structure that holds translations of one or more page
// sizes (a unified second-level TLB holds 4K and 2M entries in the same sets). Entries carry a
// 12-bit PCID tag and a global bit; a page larger than every size an array holds is cached as a
// splinter of the largest size it does hold, as real L1 TLBs do for 1 GiB pages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emulator/paging.h"

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
inline unsigned size_bit_shift(unsigned bit) {
    return bit == 0 ? 12 : bit == 1 ? 21 : bit == 2 ? 22 : 30;
}

struct TlbEntry {
    uint64_t tag = 0;   // la >> shift
    uint64_t frame = 0; // physical address of the (splinter's) first byte
    uint32_t stamp = 0; // LRU age
    uint16_t pcid = 0;
    uint8_t shift = 0;      // 0 = invalid
    uint8_t page_shift = 0; // the size of the page the walk found (>= shift when splintered)
    PageRights rights;
    bool global = false;
    bool dirty = false;
    // The permission decision for each kind of access, cached for one generation of the
    // control-register state (Mmu bumps the generation on every register write).
    uint32_t perm_gen = 0; // 0: not computed
    uint16_t perm_mask = 0;
};

struct TlbStats {
    uint64_t hits = 0, misses = 0, fills = 0, evictions = 0, invalidations = 0;
};

class TlbArray {
public:
    explicit TlbArray(const TlbArrayConfig& cfg);
    const TlbArrayConfig& config() const { return cfg_; }
    bool holds(unsigned page_shift) const;

    // Finds a valid entry translating `la` for `pcid` (global entries match any PCID).
    TlbEntry* lookup(uint64_t la, uint16_t pcid) {
        // The entry this array served last is the most recently used one of its set, so
        // serving it again needs neither the set scan nor a replacement-state update: the TLB's
        // state is exactly what the full lookup would leave. (Only for single-size arrays,
        // where no other entry can also match.) Every fill and invalidation forgets it.
        if ((la >> mru_shift_) == mru_tag_ && (mru_global_ || mru_pcid_ == pcid)) {
            stats.hits++;
            return mru_;
        }
        for (unsigned k = 0; k < nshifts_; k++) {
            const unsigned shift = shifts_[k];
            const uint64_t tag = la >> shift;
            TlbEntry* set = &entries_[(tag & set_mask_) * cfg_.ways];
            for (unsigned w = 0; w < cfg_.ways; w++) {
                TlbEntry& e = set[w];
                if (e.shift == shift && e.tag == tag && (e.global || e.pcid == pcid)) {
                    touch(set, w);
                    stats.hits++;
                    if (nshifts_ == 1) remember(&e);
                    return &e;
                }
            }
        }
        stats.misses++;
        return nullptr;
    }
    // Caches a translation (splintered to the largest size this array holds). Returns false if
    // the array holds no size small enough.
    bool fill(uint64_t la, uint16_t pcid, const WalkResult& w);
    // INVLPG semantics: entries for `la`'s page with `pcid`, and global ones with any PCID.
    void invalidate_page(uint64_t la, uint16_t pcid, bool include_global);
    // Entries of one PCID (non-global unless `include_global`), or of all PCIDs (pcid < 0).
    void invalidate(int pcid, bool include_global);
    void invalidate_entry(TlbEntry* e) {
        e->shift = 0;
        forget();
        stats.invalidations++;
    }
    unsigned valid_entries() const;
    TlbStats stats;

private:
    void touch(TlbEntry* set, unsigned way) {
        if (cfg_.policy == ReplacementPolicy::lru)
            set[way].stamp = ++clock_;
        else
            plru_touch(unsigned((set - entries_.data()) / cfg_.ways), way);
    }
    void plru_touch(unsigned set, unsigned way);
    unsigned plru_victim(unsigned set) const;
    TlbArrayConfig cfg_;
    uint64_t set_mask_;
    std::vector<TlbEntry> entries_;
    std::vector<uint64_t> plru_bits_;
    uint64_t clock_ = 0;
    bool splinters_ = false; // some entry caches part of a larger page
    uint8_t shifts_[4] = {}; // the page shifts this array holds
    unsigned nshifts_ = 0;
    // The entry lookup() returned last (see lookup()), with its match key copied so the check
    // needs no load through the pointer. A tag no shifted address can equal means "none".
    TlbEntry* mru_ = nullptr;
    uint64_t mru_tag_ = ~0ull;
    unsigned mru_shift_ = 0;
    uint16_t mru_pcid_ = 0;
    bool mru_global_ = false;
    void remember(TlbEntry* e) {
        mru_ = e;
        mru_tag_ = e->tag;
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

// One paging-structure cache (SDM 4.10.3): entries for a level's paging-structure entries,
// keyed by the linear-address bits that select them and the PCID, holding the physical address
// of the next table and the rights accumulated so far. Fully associative, LRU. Stored as
// parallel arrays so a lookup is one scan over 64-bit keys.
struct PscEntry {
    uint64_t table_pa = 0;
    PageRights rights;
};

class PagingStructureCache {
public:
    PagingStructureCache(std::string name, int level, unsigned entries)
        : name_(std::move(name)), level_(level), keys_(entries, INVALID), stamps_(entries, 0),
          data_(entries) {}
    const std::string& name() const { return name_; }
    int level() const { return level_; } // the level of the cached entries (2 = PDE cache)
    unsigned size() const { return unsigned(keys_.size()); }
    const PscEntry* lookup(uint64_t tag, uint16_t pcid) {
        const uint64_t key = make_key(tag, pcid);
        for (size_t i = 0; i < keys_.size(); i++)
            if (keys_[i] == key) {
                stamps_[i] = ++clock_;
                stats.hits++;
                return &data_[i];
            }
        stats.misses++;
        return nullptr;
    }
    void fill(uint64_t tag, uint16_t pcid, uint64_t table_pa, const PageRights& rights);
    void invalidate(int pcid); // < 0: every PCID
    TlbStats stats;

private:
    // Tags are linear-address bits above bit 20 (at most 43 bits): the PCID goes above them.
    static constexpr uint64_t INVALID = ~0ull;
    static uint64_t make_key(uint64_t tag, uint16_t pcid) { return tag | uint64_t(pcid) << 48; }
    std::string name_;
    int level_;
    std::vector<uint64_t> keys_;
    std::vector<uint64_t> stamps_;
    std::vector<PscEntry> data_;
    uint64_t clock_ = 0;
};

} // namespace mmemu
