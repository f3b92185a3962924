// The generic registry of the mm_structs a kernel thread follows (mm/mm_slot.h, Linux 6.18;
// seed 000): each registered mm has a slot, found by the mm through a hash table
// (mm_slot_lookup) and visited in order through a list (the slot's mm_node). KSM embeds a slot
// in its ksm_mm_slot, khugepaged in its khugepaged_mm_slot; the slots come from the user's slab
// cache, the registry only links them.
//
// The hash decides only how fast a lookup is (the kernel's hash_ptr of the mm's address: here a
// host address, so buckets differ from run to run); the list's order is what the user sees, and
// it is deterministic.
#pragma once

#include <array>
#include <cstdint>

namespace mmemu {

struct mm_struct;

struct mm_slot {
    mm_slot* hash_next = nullptr; // hash: the bucket's hlist
    mm_slot** hash_pprev = nullptr;
    mm_slot* prev = this; // mm_node: the list the user walks
    mm_slot* next = this;
    mm_struct* mm = nullptr;
    bool on_list() const { return next != this; }
};

// A hash of 2^Bits buckets (KSM: MM_SLOTS_HASH_BITS 10) and the list's head.
template <unsigned Bits> class MmSlotRegistry {
public:
    MmSlotRegistry() = default;
    MmSlotRegistry(const MmSlotRegistry&) = delete;
    MmSlotRegistry& operator=(const MmSlotRegistry&) = delete;

    // mm_slot_lookup(): the slot of mm, or nullptr.
    mm_slot* lookup(const mm_struct* mm) const {
        for (mm_slot* s = buckets_[bucket(mm)]; s; s = s->hash_next)
            if (s->mm == mm) return s;
        return nullptr;
    }
    // mm_slot_insert(): mm's slot goes in the hash (the caller puts it on the list).
    void insert(mm_struct* mm, mm_slot* s) {
        s->mm = mm;
        mm_slot*& head = buckets_[bucket(mm)];
        s->hash_next = head;
        if (head) head->hash_pprev = &s->hash_next;
        head = s;
        s->hash_pprev = &head;
    }
    // hash_del(): the slot leaves the hash.
    static void hash_del(mm_slot* s) {
        if (!s->hash_pprev) return;
        *s->hash_pprev = s->hash_next;
        if (s->hash_next) s->hash_next->hash_pprev = s->hash_pprev;
        s->hash_next = nullptr;
        s->hash_pprev = nullptr;
    }

    // The list: head() is the sentinel (ksm_mm_head's slot); list_add_tail(s, before) puts s
    // just before `before` (before == head(): at the tail); list_del unlinks it.
    mm_slot* head() { return &head_; }
    const mm_slot* head() const { return &head_; }
    static void list_add_tail(mm_slot* s, mm_slot* before) {
        s->prev = before->prev;
        s->next = before;
        before->prev->next = s;
        before->prev = s;
    }
    static void list_del(mm_slot* s) {
        s->prev->next = s->next;
        s->next->prev = s->prev;
        s->prev = s->next = s;
    }

private:
    static size_t bucket(const mm_struct* mm) {
        // hash_ptr(): the golden-ratio multiplicative hash of the address, top Bits bits.
        const uint64_t v = reinterpret_cast<uintptr_t>(mm) * 0x61c8864680b583ebull;
        return size_t(v >> (64 - Bits));
    }
    std::array<mm_slot*, size_t{1} << Bits> buckets_{};
    mm_slot head_;
};

} // namespace mmemu
