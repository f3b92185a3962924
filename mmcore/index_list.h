// An intrusive doubly linked list threaded through `lru_next`/`lru_prev` index fields of the
// elements of some indexable store (the kernel's list_head, with indices instead of pointers):
// pages in mem_map (buddy free lists, pcp lists), slab descriptors (slabs_full/partial/free).
// No allocation, O(1) everything.
#pragma once

#include <cstdint>

namespace mmemu {

inline constexpr uint32_t LIST_NIL = 0xffffffffu;

struct index_list {
    uint32_t first = LIST_NIL;
    uint32_t last = LIST_NIL;

    bool empty() const { return first == LIST_NIL; }

    template <class Store> void add_head(Store& s, uint32_t i) {
        auto& e = s[i];
        e.lru_prev = LIST_NIL;
        e.lru_next = first;
        if (first != LIST_NIL)
            s[first].lru_prev = i;
        else
            last = i;
        first = i;
    }
    template <class Store> void add_tail(Store& s, uint32_t i) {
        auto& e = s[i];
        e.lru_next = LIST_NIL;
        e.lru_prev = last;
        if (last != LIST_NIL)
            s[last].lru_next = i;
        else
            first = i;
        last = i;
    }
    template <class Store> void del(Store& s, uint32_t i) {
        auto& e = s[i];
        if (e.lru_prev != LIST_NIL)
            s[e.lru_prev].lru_next = e.lru_next;
        else
            first = e.lru_next;
        if (e.lru_next != LIST_NIL)
            s[e.lru_next].lru_prev = e.lru_prev;
        else
            last = e.lru_prev;
        e.lru_next = e.lru_prev = LIST_NIL;
    }
    template <class Store> uint32_t pop_head(Store& s) {
        const uint32_t i = first;
        del(s, i);
        return i;
    }
    template <class Store> uint32_t pop_tail(Store& s) {
        const uint32_t i = last;
        del(s, i);
        return i;
    }
    template <class Store, class F> void for_each(const Store& s, F&& f) const {
        for (uint32_t i = first; i != LIST_NIL; i = s[i].lru_next) f(i);
    }
    template <class Store> uint64_t size(const Store& s) const {
        uint64_t n = 0;
        for_each(s, [&](uint32_t) { n++; });
        return n;
    }
};

} // namespace mmemu
