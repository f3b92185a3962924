#include "emulator/tlb.h"

#include <stdexcept>

namespace mmemu {

TlbArray::TlbArray(const TlbArrayConfig& cfg) : cfg_(cfg) {
    if (cfg.ways == 0 || cfg.entries == 0 || cfg.entries % cfg.ways)
        throw std::invalid_argument(cfg.name + ": entries must be a non-zero multiple of ways");
    const unsigned sets = cfg.entries / cfg.ways;
    if (sets & (sets - 1))
        throw std::invalid_argument(cfg.name + ": entries / ways must be a power of two");
    if (cfg.policy == ReplacementPolicy::plru && ((cfg.ways & (cfg.ways - 1)) || cfg.ways > 64))
        throw std::invalid_argument(
            cfg.name + ": tree pseudo-LRU needs a power-of-two number of ways (at most 64)");
    if (!(cfg.size_mask & 0xf)) throw std::invalid_argument(cfg.name + ": holds no page size");
    set_mask_ = sets - 1;
    for (unsigned b = 0; b < 4; b++)
        if (cfg.size_mask >> b & 1) shifts_[nshifts_++] = uint8_t(size_bit_shift(b));
    entries_.assign(cfg.entries, TlbEntry{});
    plru_bits_.assign(sets, 0);
}

bool TlbArray::holds(unsigned page_shift) const {
    for (unsigned b = 0; b < 4; b++)
        if ((cfg_.size_mask >> b & 1) && size_bit_shift(b) <= page_shift) return true;
    return false;
}

// Tree pseudo-LRU: ways-1 bits per set as a binary tree; each bit points away from the half
// used most recently.
void TlbArray::plru_touch(unsigned set, unsigned way) {
    uint64_t& bits = plru_bits_[set];
    unsigned node = 1, lo = 0, hi = cfg_.ways;
    while (hi - lo > 1) {
        const unsigned mid = (lo + hi) / 2;
        if (way < mid) {
            bits |= 1ull << node; // point to the right half
            node = node * 2;
            hi = mid;
        } else {
            bits &= ~(1ull << node); // point to the left half
            node = node * 2 + 1;
            lo = mid;
        }
    }
}

unsigned TlbArray::plru_victim(unsigned set) const {
    const uint64_t bits = plru_bits_[set];
    unsigned node = 1, lo = 0, hi = cfg_.ways;
    while (hi - lo > 1) {
        const unsigned mid = (lo + hi) / 2;
        if (bits >> node & 1) {
            node = node * 2 + 1;
            lo = mid;
        } else {
            node = node * 2;
            hi = mid;
        }
    }
    return lo;
}

bool TlbArray::fill(uint64_t la, uint16_t pcid, const WalkResult& w) {
    forget();
    // The largest size this array holds that is not larger than the page (shifts_ ascend).
    unsigned shift = 0;
    for (unsigned k = 0; k < nshifts_; k++)
        if (shifts_[k] <= w.page_shift) shift = shifts_[k];
    if (!shift) return false;
    if (shift < w.page_shift) splinters_ = true;
    const uint64_t tag = la >> shift;
    const unsigned set_index = unsigned(tag & set_mask_);
    TlbEntry* set = &entries_[set_index * cfg_.ways];
    // One pass: an entry for the same page is replaced in place, else an invalid way is used,
    // else the policy's victim.
    unsigned victim = cfg_.ways, invalid = cfg_.ways, lru = 0;
    for (unsigned i = 0; i < cfg_.ways; i++) {
        const TlbEntry& e = set[i];
        if (!e.shift) {
            if (invalid == cfg_.ways) invalid = i;
            continue;
        }
        if (e.shift == shift && e.tag == tag && (e.global || e.pcid == pcid)) {
            victim = i;
            break;
        }
        if (e.stamp < set[lru].stamp || !set[lru].shift) lru = i;
    }
    if (victim == cfg_.ways) {
        if (invalid != cfg_.ways) {
            victim = invalid;
        } else {
            victim = cfg_.policy == ReplacementPolicy::plru ? plru_victim(set_index) : lru;
            stats.evictions++;
        }
    }
    TlbEntry& e = set[victim];
    e.tag = tag;
    e.shift = uint8_t(shift);
    e.page_shift = uint8_t(w.page_shift);
    e.frame = w.frame_pa + (la & ((1ull << w.page_shift) - 1) & ~((1ull << shift) - 1));
    e.pcid = pcid;
    e.rights = w.rights;
    e.global = w.global;
    e.dirty = w.dirty;
    e.perm_gen = 0;
    touch(set, victim);
    stats.fills++;
    return true;
}

void TlbArray::invalidate_page(uint64_t la, uint16_t pcid, bool include_global) {
    forget();
    auto matches = [&](const TlbEntry& e) {
        if (!e.shift) return false;
        // Global entries match any PCID, and only when they are to be included.
        if (e.global ? !include_global : e.pcid != pcid) return false;
        // The entry's page (its full size when it is a splinter) contains la.
        const uint64_t entry_la = e.tag << e.shift;
        return (entry_la >> e.page_shift) == (la >> e.page_shift);
    };
    if (splinters_) {
        for (auto& e : entries_)
            if (matches(e)) invalidate_entry(&e);
        return;
    }
    for (unsigned b = 0; b < 4; b++) {
        if (!(cfg_.size_mask >> b & 1)) continue;
        const uint64_t tag = la >> size_bit_shift(b);
        TlbEntry* set = &entries_[(tag & set_mask_) * cfg_.ways];
        for (unsigned w = 0; w < cfg_.ways; w++)
            if (matches(set[w])) invalidate_entry(&set[w]);
    }
}

void TlbArray::invalidate(int pcid, bool include_global) {
    forget();
    for (auto& e : entries_) {
        if (!e.shift) continue;
        if (e.global ? !include_global : (pcid >= 0 && e.pcid != pcid)) continue;
        invalidate_entry(&e);
    }
}

unsigned TlbArray::valid_entries() const {
    unsigned n = 0;
    for (const auto& e : entries_) n += e.shift != 0;
    return n;
}

void PagingStructureCache::fill(uint64_t tag, uint16_t pcid, uint64_t table_pa,
                                const PageRights& rights) {
    if (keys_.empty()) return;
    const uint64_t key = make_key(tag, pcid);
    // One pass: the entry for this key if cached, else an invalid one, else the LRU entry.
    size_t victim = 0;
    bool found = false;
    for (size_t i = 0; i < keys_.size(); i++) {
        if (keys_[i] == key) {
            victim = i;
            found = true;
            break;
        }
        if (keys_[victim] != INVALID && (keys_[i] == INVALID || stamps_[i] < stamps_[victim]))
            victim = i;
    }
    if (!found && keys_[victim] != INVALID) stats.evictions++;
    keys_[victim] = key;
    stamps_[victim] = ++clock_;
    data_[victim] = {table_pa, rights};
    stats.fills++;
}

void PagingStructureCache::invalidate(int pcid) {
    for (size_t i = 0; i < keys_.size(); i++)
        if (keys_[i] != INVALID && (pcid < 0 || uint16_t(keys_[i] >> 48) == pcid)) {
            keys_[i] = INVALID;
            stats.invalidations++;
        }
}

} // namespace mmemu
