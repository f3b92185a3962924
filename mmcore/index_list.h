// An intrusive doubly linked list threaded through `lru_next`/`lru_prev` index fields of the
// elements of some indexable store (the kernel's list_head, with indices instead of pointers):
// pages in mem_map (buddy free lists, pcp lists, indexed by Pfn), slab descriptors
// (slabs_full/partial/free, indexed by descriptor number). The links are stored in 32 bits; the
// list's interface speaks the store's index type. No allocation, O(1) everything.
#pragma once

#include <cstdint>
#include <type_traits>

namespace mmemu {

inline constexpr uint32_t LIST_NIL = 0xffffffffu;

// Idx: uint32_t, or a value type with a `value` member and an explicit constructor from it
// (Pfn).
template <class Idx> struct basic_index_list {
    // The stored links of the first and last elements, LIST_NIL when empty.
    uint32_t first_link = LIST_NIL;
    uint32_t last_link = LIST_NIL;

    static constexpr uint32_t link(Idx i) {
        if constexpr (std::is_integral_v<Idx>)
            return uint32_t(i);
        else
            return uint32_t(i.value);
    }
    static constexpr Idx index(uint32_t l) {
        if constexpr (std::is_integral_v<Idx>)
            return l;
        else
            return Idx{l};
    }
    // The index a list returns for "none" (head() of an empty list).
    static constexpr Idx nil() { return index(LIST_NIL); }

    bool empty() const { return first_link == LIST_NIL; }
    Idx head() const { return index(first_link); }
    Idx tail() const { return index(last_link); }

    template <class Store> void add_head(Store& s, Idx i) {
        auto& e = s[i];
        e.lru_prev = LIST_NIL;
        e.lru_next = first_link;
        if (first_link != LIST_NIL)
            s[index(first_link)].lru_prev = link(i);
        else
            last_link = link(i);
        first_link = link(i);
    }
    template <class Store> void add_tail(Store& s, Idx i) {
        auto& e = s[i];
        e.lru_next = LIST_NIL;
        e.lru_prev = last_link;
        if (last_link != LIST_NIL)
            s[index(last_link)].lru_next = link(i);
        else
            first_link = link(i);
        last_link = link(i);
    }
    template <class Store> void del(Store& s, Idx i) {
        auto& e = s[i];
        if (e.lru_prev != LIST_NIL)
            s[index(e.lru_prev)].lru_next = e.lru_next;
        else
            first_link = e.lru_next;
        if (e.lru_next != LIST_NIL)
            s[index(e.lru_next)].lru_prev = e.lru_prev;
        else
            last_link = e.lru_prev;
        e.lru_next = e.lru_prev = LIST_NIL;
    }
    template <class Store> Idx pop_head(Store& s) {
        const Idx i = head();
        del(s, i);
        return i;
    }
    template <class Store> Idx pop_tail(Store& s) {
        const Idx i = tail();
        del(s, i);
        return i;
    }
    template <class Store, class F> void for_each(const Store& s, F&& f) const {
        for (uint32_t l = first_link; l != LIST_NIL; l = s[index(l)].lru_next) f(index(l));
    }
    template <class Store> uint64_t size(const Store& s) const {
        uint64_t n = 0;
        for_each(s, [&](Idx) { n++; });
        return n;
    }
};

// Slab descriptors are numbered in a vector.
using index_list = basic_index_list<uint32_t>;

} // namespace mmemu
