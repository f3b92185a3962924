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
    std::string name;        // e.g. "dtlb_4k"
    unsigned entries = 64;
    unsigned ways = 4;       // entries / ways sets, a power of two
    uint8_t size_mask = 1;   // bit 0: 4K, bit 1: 2M, bit 2: 4M, bit 3: 1G
    ReplacementPolicy policy = ReplacementPolicy::lru;
};

inline constexpr uint8_t TLB_4K = 1, TLB_2M = 2, TLB_4M = 4, TLB_1G = 8;
inline unsigned size_bit_shift(unsigned bit) { return bit == 0 ? 12 : bit == 1 ? 21 : bit == 2 ? 22 : 30; }

struct TlbEntry {
    uint64_t tag = 0;       // la >> shift
    uint64_t frame = 0;     // physical address of the (splinter's) first byte
    uint32_t stamp = 0;     // LRU age
    uint16_t pcid = 0;
    uint8_t shift = 0;      // 0 = invalid
    uint8_t page_shift = 0; // the size of the page the walk found (>= shift when splintered)
    PageRights rights;
    bool global = false;
    bool dirty = false;
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
        for (unsigned b = 0; b < 4; b++) {
            if (!(cfg_.size_mask >> b & 1)) continue;
            const unsigned shift = size_bit_shift(b);
            const uint64_t tag = la >> shift;
            TlbEntry* set = &entries_[(tag & set_mask_) * cfg_.ways];
            for (unsigned w = 0; w < cfg_.ways; w++) {
                TlbEntry& e = set[w];
                if (e.shift == shift && e.tag == tag && (e.global || e.pcid == pcid)) {
                    touch(set, w);
                    stats.hits++;
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
        stats.invalidations++;
    }
    unsigned valid_entries() const;
    TlbStats stats;

private:
    void touch(TlbEntry* set, unsigned way) {
        if (cfg_.policy == ReplacementPolicy::lru) set[way].stamp = ++clock_;
        else plru_touch(unsigned((set - entries_.data()) / cfg_.ways), way);
    }
    void plru_touch(unsigned set, unsigned way);
    unsigned plru_victim(unsigned set) const;
    TlbArrayConfig cfg_;
    uint64_t set_mask_;
    std::vector<TlbEntry> entries_;
    std::vector<uint64_t> plru_bits_;
    uint32_t clock_ = 0;
    bool splinters_ = false; // some entry caches part of a larger page
};

// One paging-structure cache (SDM 4.10.3): entries for a level's paging-structure entries,
// keyed by the linear-address bits that select them and the PCID, holding the physical address
// of the next table and the rights accumulated so far. Fully associative, LRU.
struct PscEntry {
    uint64_t tag = 0;
    uint64_t table_pa = 0;
    PageRights rights;
    uint32_t stamp = 0;
    uint16_t pcid = 0;
    bool valid = false;
};

class PagingStructureCache {
public:
    PagingStructureCache(std::string name, int level, unsigned entries)
        : name_(std::move(name)), level_(level), entries_(entries) {}
    const std::string& name() const { return name_; }
    int level() const { return level_; }  // the level of the cached entries (2 = PDE cache)
    unsigned size() const { return unsigned(entries_.size()); }
    const PscEntry* lookup(uint64_t tag, uint16_t pcid);
    void fill(uint64_t tag, uint16_t pcid, uint64_t table_pa, const PageRights& rights);
    void invalidate(int pcid); // < 0: every PCID
    TlbStats stats;

private:
    std::string name_;
    int level_;
    std::vector<PscEntry> entries_;
    uint32_t clock_ = 0;
};

} // namespace mmemu
