// KSM's objects (mm/ksm.c, Linux 6.18; docs/dev/ksm-facts.md section 8): one ksm_mm_slot per
// registered mm, one ksm_rmap_item per scanned (mm, page address), one ksm_stable_node per KSM
// page (or per chain of KSM pages of the same content). Each takes an object of its slab cache,
// so slabinfo shows what KSM costs; the fields live in host memory.
#pragma once

#include <boost/intrusive/rbtree_algorithms.hpp>
#include <cstdint>

#include "mmcore/mm_slot.h"
#include "mmcore/slab.h"

namespace mmemu {

struct anon_vma;
struct mm_struct;

// The kernel's red-black trees (lib/rbtree.c): intrusive nodes, the algorithms of
// Boost.Intrusive. A tree's root is a header node; resetting it forgets the tree (RB_ROOT)
// without touching the nodes, as ksmd does to the unstable tree at each full scan.
struct rb_node {
    rb_node* parent_ = nullptr;
    rb_node* left_ = nullptr;
    rb_node* right_ = nullptr;
    bool red_ = false;
};
struct rb_traits {
    using node = rb_node;
    using node_ptr = rb_node*;
    using const_node_ptr = const rb_node*;
    using color = bool;
    static node_ptr get_parent(const_node_ptr n) { return n->parent_; }
    static void set_parent(node_ptr n, node_ptr p) { n->parent_ = p; }
    static node_ptr get_left(const_node_ptr n) { return n->left_; }
    static void set_left(node_ptr n, node_ptr l) { n->left_ = l; }
    static node_ptr get_right(const_node_ptr n) { return n->right_; }
    static void set_right(node_ptr n, node_ptr r) { n->right_ = r; }
    static color get_color(const_node_ptr n) { return n->red_; }
    static void set_color(node_ptr n, color c) { n->red_ = c; }
    static color black() { return false; }
    static color red() { return true; }
};
using rb_algo = boost::intrusive::rbtree_algorithms<rb_traits>;
struct rb_root {
    rb_node header;
    rb_root() { reset(); }
    rb_root(const rb_root&) = delete;
    rb_root& operator=(const rb_root&) = delete;
    void reset() { rb_algo::init_header(&header); }
    rb_node* root() const {
        return header.parent_;
    } // (Boost's root_node() is the header when empty)
    bool empty() const { return root() == nullptr; }
};

// The low bits of rmap_item->address.
inline constexpr uint64_t SEQNR_MASK = 0x0ff;    // the unstable tree's pass (low 8 bits)
inline constexpr uint64_t UNSTABLE_FLAG = 0x100; // in an unstable tree
inline constexpr uint64_t STABLE_FLAG = 0x200;   // on a stable node's hlist
inline constexpr int STABLE_NODE_CHAIN = -1024;  // a chain's rmap_hlist_len

struct ksm_stable_node;

// struct ksm_rmap_item: the reverse mapping of one scanned page. The rb_node is the union's
// unstable-tree arm; head and the hlist links are its stable arm. Host speed only: the first
// 64 bytes hold all that an unstable-tree walk reads of a tree item (the rb_node's links, mm,
// pfn_hint and the PTE memo), so that each level of a walk touches as few host cache lines as
// it can.
inline constexpr uint64_t NO_PTE_MEMO = ~uint64_t{0};
struct ksm_rmap_item : rb_node {
    uint32_t oldchecksum = 0; // (in the rb_node's tail padding)
    mm_struct* mm = nullptr;
    // unstable: the pfn its page had when it entered the tree. A host-side prefetch hint for
    // the tree walks, never trusted: the page is always looked up through the page tables.
    uint64_t pfn_hint = 0;
    // Host speed only: where get_mergeable_page() last found the PTE (in a mergeable VMA), and
    // the sum of the mm's mmap_lock write_seq() and pt_frees then (NO_PTE_MEMO: none). Both
    // only grow, so while the sum is unchanged no VMA changed and no table went: the PTE is
    // still there, and the page is read through it without looking up the VMA and walking the
    // tables again (the result is the same).
    uint64_t pte_memo = 0, memo_epoch = NO_PTE_MEMO;
    ksm_rmap_item* rmap_list = nullptr; // the mm's items, by address
    anon_vma* av = nullptr;             // stable: the anon_vma it holds a reference to
    unsigned nid = 0;                   // unstable: the tree's node
    uint64_t address = 0;               // the page's address | SEQNR | UNSTABLE_FLAG | STABLE_FLAG
    // Host speed only: the frame oldchecksum was last computed from and its write generation
    // then (PhysicalMemory::write_generation). While both are unchanged the frame's bytes are
    // the same and so is their checksum: calc_checksum() is not run again (its cost is still
    // charged, as the kernel computes it).
    uint64_t csum_pfn = ~uint64_t{0}, csum_gen = 0;
    uint8_t age = 0;             // smart_scan: passes seen (saturating at 255)
    uint8_t remaining_skips = 0; // smart_scan: passes still to skip
    ksm_stable_node* head = nullptr;
    ksm_rmap_item* hlist_next = nullptr; // the stable node's hlist
    ksm_rmap_item** hlist_pprev = nullptr;
    SlabObj obj;
};

// struct ksm_stable_node: a KSM page (kpfn; its rmap_items on hlist), or a chain whose hlist
// holds dups: KSM pages of the same content, each a node of its own off the tree.
struct ksm_stable_node : rb_node {
    bool dup = false;                    // head == STABLE_NODE_DUP_HEAD: a chain's dup
    ksm_stable_node* chain = nullptr;    // a dup's chain
    ksm_stable_node* dup_next = nullptr; // hlist_dup: the chain's list of dups
    ksm_stable_node** dup_pprev = nullptr;
    ksm_rmap_item* hlist = nullptr;  // the items (a chain: unused)
    ksm_stable_node* dups = nullptr; // a chain: its dups, newest first
    uint64_t kpfn = 0;               // the KSM page; a chain: chain_prune_time (jiffies)
    int rmap_hlist_len = 0;          // items on hlist; STABLE_NODE_CHAIN for a chain
    unsigned nid = 0;
    uint64_t no_candidate_gen = 0; // a chain: Ksm::stable_gen() when a walk found no candidate
    SlabObj obj;
    bool is_chain() const { return rmap_hlist_len == STABLE_NODE_CHAIN; }
};

// struct ksm_mm_slot: the registry's slot and the mm's rmap_items.
struct ksm_mm_slot : mm_slot {
    ksm_rmap_item* rmap_list = nullptr;
    SlabObj obj;
};

} // namespace mmemu
