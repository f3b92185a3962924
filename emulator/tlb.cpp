#include "emulator/tlb.h"

#include <algorithm>
#include <stdexcept>

namespace mmemu {

TlbArray::TlbArray(const TlbArrayConfig& cfg)
    : cfg_(cfg), ways_(cfg.ways), repl_(cfg.policy == ReplacementPolicy::plru ? Repl::plru
                                        : cfg.ways <= 16                      ? Repl::order
                                                                              : Repl::stamps) {
    if (cfg.ways == 0 || cfg.entries == 0 || cfg.entries % cfg.ways)
        throw std::invalid_argument(cfg.name + ": entries must be a non-zero multiple of ways");
    if (cfg.ways > 64) throw std::invalid_argument(cfg.name + ": at most 64 ways");
    const unsigned sets = cfg.entries / cfg.ways;
    if (sets & (sets - 1))
        throw std::invalid_argument(cfg.name + ": entries / ways must be a power of two");
    if (cfg.policy == ReplacementPolicy::plru && ((cfg.ways & (cfg.ways - 1)) || cfg.ways > 64))
        throw std::invalid_argument(
            cfg.name + ": tree pseudo-LRU needs a power-of-two number of ways (at most 64)");
    if (!(cfg.size_mask & 0xf)) throw std::invalid_argument(cfg.name + ": holds no page size");
    set_mask_ = sets - 1;
    for (unsigned b = 0; b < 4; b++)
        if (cfg.size_mask >> b & 1) {
            shifts_[nshifts_] = uint8_t(size_bit_shift(b));
            index_of_size_bit_[b] = uint8_t(nshifts_);
            size_bits_[nshifts_++] = uint8_t(b);
        }
    for (unsigned b = 0; b < 4; b++) {
        fill_index_[b] = 0xff;
        for (unsigned k = 0; k < nshifts_; k++)
            if (shifts_[k] <= size_bit_shift(b)) fill_index_[b] = uint8_t(k);
    }
    keys_.assign(cfg.entries, 0);
    payload_.assign(cfg.entries, TlbEntry{});
    if (repl_ == Repl::stamps) stamps_.assign(cfg.entries, 0);
    if (repl_ == Repl::plru) plru_bits_.assign(sets, 0);
    if (repl_ == Repl::order) order_.assign(sets, recency::initial(cfg.ways));
    order_mask_ = recency::mask_of(cfg.ways <= 16 ? cfg.ways : 16);
}

bool TlbArray::holds(unsigned page_shift) const {
    for (unsigned b = 0; b < 4; b++)
        if ((cfg_.size_mask >> b & 1) && size_bit_shift(b) <= page_shift) return true;
    return false;
}

void TlbArray::touch_unordered(unsigned set, unsigned way) {
    if (repl_ == Repl::stamps)
        stamps_[size_t(set) * ways_ + way] = ++clock_;
    else
        plru_touch(set, way);
}

unsigned TlbArray::place_unordered(unsigned set, uint64_t k, unsigned kidx, bool absent) {
    const size_t base = size_t(set) * ways_;
    const uint64_t* __restrict keys = keys_.data() + base;
    const unsigned ways = ways_;
    unsigned victim = absent ? ways : find(set, k);
    if (victim == ways) {
        unsigned invalid = ways;
        for (unsigned i = 0; i < ways; i++)
            if (!keys[i]) {
                invalid = i;
                break;
            }
        if (invalid != ways) {
            victim = invalid;
        } else if (repl_ == Repl::stamps) {
            const uint64_t* __restrict stamps = stamps_.data() + base;
            victim = 0;
            for (unsigned i = 1; i < ways; i++)
                if (stamps[i] < stamps[victim]) victim = i;
            stats.evictions++;
        } else {
            victim = plru_victim(set);
            stats.evictions++;
        }
    }
    count_replaced(keys[victim], kidx);
    touch_unordered(set, victim);
    stats.fills++;
    return victim;
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

void TlbArray::invalidate_page(LinearAddr la, uint16_t pcid, bool include_global) {
    forget();
    if (empty()) return;
    auto matches = [&](size_t slot) {
        if (!keys_[slot]) return false;
        const TlbEntry& e = payload_[slot];
        // Global entries match any PCID, and only when they are to be included.
        if (e.global ? !include_global : e.pcid != pcid) return false;
        // The entry's page (its full size when it is a splinter) contains la.
        const uint64_t entry_la = (keys_[slot] >> 16) << e.shift;
        return (entry_la >> e.page_shift) == ((la.value & LA_BITS) >> e.page_shift);
    };
    if (splinters_) {
        for (size_t slot = 0; slot < keys_.size(); slot++)
            if (matches(slot)) invalidate_slot(unsigned(slot));
        return;
    }
    for (unsigned k = 0; k < nshifts_; k++) {
        if (!size_count_[k]) continue;
        const uint64_t tag = (la.value & LA_BITS) >> shifts_[k];
        const size_t base = size_t(tag & set_mask_) * ways_;
        for (unsigned w = 0; w < ways_; w++)
            if (matches(base + w)) invalidate_slot(unsigned(base + w));
    }
}

void TlbArray::invalidate(int pcid, bool include_global) {
    forget();
    if (empty()) return;
    for (size_t slot = 0; slot < keys_.size(); slot++) {
        if (!keys_[slot]) continue;
        const TlbEntry& e = payload_[slot];
        if (e.global ? !include_global : (pcid >= 0 && e.pcid != pcid)) continue;
        invalidate_slot(unsigned(slot));
    }
}

unsigned TlbArray::valid_entries() const {
    unsigned n = 0;
    for (uint64_t k : keys_) n += k != 0;
    return n;
}

// ---------------------------------------------------------------------------------------------
// Paging-structure caches.

PagingStructureCache::PagingStructureCache(std::string name, int level, unsigned entries)
    : name_(std::move(name)), level_(level), small_(entries <= 16), n_(entries),
      keys_(entries, INVALID), data_(entries) {
    if (small_) {
        order_ = recency::initial(entries);
        order_mask_ = recency::mask_of(entries);
        return;
    }
    prev_.assign(entries, NIL);
    next_.assign(entries, NIL);
    pos_.assign(entries, 0);
    for (unsigned i = entries; i-- > 0;) free_.push_back(i); // entry 0 is taken first
    size_t n = 4;
    while (n < 2 * size_t(entries)) n *= 2; // load factor at most 1/2
    index_.assign(n, NIL);
    index_mask_ = n - 1;
}

void PagingStructureCache::index_insert(uint32_t slot) {
    size_t b = bucket(keys_[slot]);
    while (index_[b] != NIL) b = (b + 1) & index_mask_;
    index_[b] = slot;
    pos_[slot] = uint32_t(b);
}

// Backward-shift deletion: walk the probe run after the emptied bucket; an entry whose home
// bucket is not cyclically within (gap, its bucket] can move into the gap (its probe from home
// passes the gap), which then moves to where it was.
void PagingStructureCache::index_erase(uint32_t slot) {
    size_t gap = pos_[slot];
    for (size_t b = (gap + 1) & index_mask_; index_[b] != NIL; b = (b + 1) & index_mask_) {
        const uint32_t other = index_[b];
        const size_t home = bucket(keys_[other]);
        // Distances along the probe direction: the entry stays if its home lies after the gap
        // and not after b.
        if (((b - home) & index_mask_) < ((b - gap) & index_mask_)) continue;
        index_[gap] = other;
        pos_[other] = uint32_t(gap);
        gap = b;
    }
    index_[gap] = NIL;
}

void PagingStructureCache::unlink(uint32_t slot) {
    if (prev_[slot] != NIL)
        next_[prev_[slot]] = next_[slot];
    else
        head_ = next_[slot];
    if (next_[slot] != NIL)
        prev_[next_[slot]] = prev_[slot];
    else
        tail_ = prev_[slot];
    prev_[slot] = next_[slot] = NIL;
}

void PagingStructureCache::push_front(uint32_t slot) {
    prev_[slot] = NIL;
    next_[slot] = head_;
    if (head_ != NIL) prev_[head_] = slot;
    head_ = slot;
    if (tail_ == NIL) tail_ = slot;
}

void PagingStructureCache::to_front(uint32_t slot) {
    if (head_ == slot) return;
    unlink(slot);
    push_front(slot);
}

void PagingStructureCache::drop(uint32_t slot) {
    index_erase(slot);
    unlink(slot);
    keys_[slot] = INVALID;
    free_.push_back(slot);
    valid_--;
}

// The fill of a cache above 16 entries: the hash index and the LRU list.
void PagingStructureCache::fill_large(uint64_t key, PhysAddr table_pa, const PageRights& rights,
                                      bool absent) {
    const int found = absent ? -1 : find(key);
    uint32_t slot;
    if (found >= 0) {
        slot = uint32_t(found);
        to_front(slot);
    } else {
        if (free_.empty()) {
            // Evict the least recently used entry.
            slot = tail_;
            index_erase(slot);
            unlink(slot);
            stats.evictions++;
        } else {
            slot = free_.back();
            free_.pop_back();
            valid_++;
        }
        keys_[slot] = key;
        index_insert(slot);
        push_front(slot);
    }
    data_[slot] = {table_pa, rights};
    stats.fills++;
}

void PagingStructureCache::invalidate(int pcid) {
    for (uint32_t slot = 0; slot < keys_.size(); slot++)
        if (keys_[slot] != INVALID && (pcid < 0 || uint16_t(keys_[slot] >> 48) == pcid)) {
            if (small_) {
                keys_[slot] = INVALID;
                recency::demote(order_, slot, unsigned(keys_.size()));
                valid_--;
            } else {
                drop(slot);
            }
            stats.invalidations++;
        }
}

} // namespace mmemu
