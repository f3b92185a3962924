// The maple tree (lib/maple_tree.c, include/linux/maple_tree.h): the range B-tree that holds an
// mm's VMAs (mm->mm_mt, MT_FLAGS_ALLOC_RANGE | MT_FLAGS_USE_RCU). mmemu keeps its shape, not its
// bytes: the same node types and capacities (maple_leaf_64 leaves and maple_arange_64 internal
// nodes with their gaps), the same store types (exact fit, slot store, append, node store, split
// with push left/right, rebalance, spanning store, new root), the same split points and
// rebalancing rules, and the same preallocation requests, so that a workload's tree has the
// number of nodes the kernel's would and the maple_node slab cache shows what it costs. Each node
// is a 256-byte object from a MapleNodeSource (the "maple_node" cache); its contents live in the
// host-side node below, not in emulated RAM (no emulated code reads them).
//
// docs/dev/maple-tree-facts.md has the rules with citations; where this file departs from the
// kernel it says so:
// - a single entry at index 0 only ([0, 0]) is kept in a node; the kernel keeps it in ma_root
//   itself. A VMA is never such an entry.
// - replaced nodes are freed at once; the kernel frees them after an RCU grace period
//   (kfree_rcu), so /proc/slabinfo there briefly holds them as well.
// - bulk mode (mas_expected_entries) is not modelled: the mm stopped using it when fork moved to
//   __mt_dup (6.8).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mmcore/slab.h"

namespace mmemu {

// Where a tree's nodes come from and go back to: kmem_cache_alloc()/kmem_cache_free() on the
// "maple_node" cache in a kernel. alloc_node() returns a null object when there is no memory.
class MapleNodeSource {
public:
    virtual SlabObj alloc_node() = 0;
    virtual void free_node(SlabObj node) = 0;

protected:
    ~MapleNodeSource() = default;
};

// The node geometry, which depends on the word size (include/linux/maple_tree.h):
// MAPLE_RANGE64_SLOTS and MAPLE_ARANGE64_SLOTS are 16 and 10 on 64-bit kernels, 32 and 21 on
// 32-bit ones (a 256-byte node holds twice the 4-byte pointers); mt_min_slots is slots/2 - 2
// for leaves and slots/2 - 1 for arange nodes (lib/maple_tree.c); indices run to ULONG_MAX.
struct MapleGeometry {
    unsigned leaf_slots;   // MAPLE_RANGE64_SLOTS
    unsigned arange_slots; // MAPLE_ARANGE64_SLOTS
    unsigned leaf_min;     // mt_min_slots[maple_leaf_64]
    unsigned arange_min;   // mt_min_slots[maple_arange_64]
    uint64_t max;          // ULONG_MAX
    static constexpr MapleGeometry bits64() { return {16, 10, 6, 4, UINT64_MAX}; }
    static constexpr MapleGeometry bits32() { return {32, 21, 14, 9, UINT32_MAX}; }
};

// How a store was done (enum store_type in lib/maple_tree.c), for statistics and tests.
enum class maple_store : uint8_t {
    store_root,
    exact_fit,
    append,
    slot_store,
    node_store,
    split_store,
    rebalance,
    spanning_store,
    new_root,
};
const char* to_string(maple_store s);

// One range of the tree: [first, last] holds `entry` (0 is NULL, an empty range).
struct MapleRange {
    uint64_t first = 0, last = 0, entry = 0;
};

class MapleTree {
public:
    // mt_init_flags(): an empty tree (no node). `rcu` is MT_FLAGS_USE_RCU: in RCU mode a store
    // that rewrites a node takes a new one (readers may hold the old), and appends are not done
    // in place.
    MapleTree(MapleNodeSource& nodes, MapleGeometry g, bool rcu);
    ~MapleTree(); // __mt_destroy()
    MapleTree(const MapleTree&) = delete;
    MapleTree& operator=(const MapleTree&) = delete;

    // mas_store_gfp(): store `entry` over [first, last] (entry 0 erases). The nodes the store
    // may need are requested first (mas_preallocate, with the kernel's request for the store
    // type); false (-ENOMEM) when they cannot all be had, and the tree is then unchanged.
    bool store(uint64_t first, uint64_t last, uint64_t entry);
    bool erase(uint64_t first, uint64_t last) { return store(first, last, 0); }
    // __mt_destroy(): free every node; the tree is empty.
    void destroy();
    // __mt_dup(): make this empty tree a node-for-node copy of `src` (same shape, same
    // entries; each internal node's children are allocated together, in pre-order). false
    // (-ENOMEM) if a node cannot be had; the partial copy is then destroyed.
    bool dup_from(const MapleTree& src);
    // mt_set_in_rcu() / mt_clear_in_rcu().
    void set_in_rcu(bool on) { rcu_ = on; }
    bool in_rcu() const { return rcu_; }

    // mtree_load(): the entry at `index` (0 if none).
    uint64_t load(uint64_t index) const;
    // The range holding `index`, NULL ranges included (nullopt for an empty tree).
    std::optional<MapleRange> range_at(uint64_t index) const;
    // mas_find(): the first non-NULL range that ends at or after `index` and starts at or
    // before `max` (find_vma() is find(addr, ULONG_MAX)).
    std::optional<MapleRange> find(uint64_t index, uint64_t max) const;
    // mas_find_rev(): the last non-NULL range that starts at or before `index` and ends at or
    // after `min`.
    std::optional<MapleRange> find_rev(uint64_t index, uint64_t min) const;
    // mas_empty_area() / mas_empty_area_rev(): the lowest / highest start of `size` empty
    // indices inside [min, max]; nullopt (-EBUSY) if none. Uses the gaps kept in arange nodes.
    std::optional<uint64_t> empty_area(uint64_t min, uint64_t max, uint64_t size) const;
    std::optional<uint64_t> empty_area_rev(uint64_t min, uint64_t max, uint64_t size) const;
    // Every non-NULL range in order.
    template <class F> void for_each(F&& f) const {
        for (auto r = find(0, g_.max); r;) {
            f(*r);
            if (r->last == g_.max) break;
            r = find(r->last + 1, g_.max);
        }
    }

    bool empty() const { return root_ == NIL; }
    uint64_t nr_nodes() const { return nr_nodes_; }
    unsigned height() const { return height_; }
    const MapleGeometry& geometry() const { return g_; }
    maple_store last_store() const { return last_store_; }
    // The node count per level, root first (for tests and `explain`).
    std::vector<std::vector<unsigned>> shape() const;
    // mt_validate(): "" or the first broken rule (pivots, limits, parent links, no two NULLs
    // side by side, no non-rightmost leaf ending in NULL, gaps, sufficient nodes).
    std::string validate() const;

    struct Stats {
        uint64_t node_allocs = 0;        // nodes taken from the source (preallocations included)
        uint64_t node_frees = 0;         // nodes given back (replaced ones and unused ones)
        uint64_t prealloc_shortfall = 0; // nodes a store needed beyond its request (0 in a
                                         // faithful model: tests check it)
        uint64_t stores[9] = {};         // per maple_store
    };
    const Stats& stats() const { return stats_; }

private:
    static constexpr uint32_t NIL = UINT32_MAX;
    static constexpr unsigned MAX_SLOTS = 32; // leaf slots on 32-bit kernels, the largest
    static constexpr unsigned BIG = 3 * MAX_SLOTS + 4;

    struct Node {
        uint64_t min = 0, max = 0;
        uint64_t pivot[MAX_SLOTS]; // last index of each slot; pivot[n-1] == max
        uint64_t slot[MAX_SLOTS];  // leaf: the entry; internal: the child's node id
        uint64_t gap[MAX_SLOTS];   // internal: the largest NULL range in the child's subtree
        uint32_t parent = NIL;
        uint8_t parent_slot = 0;
        uint8_t n = 0;
        bool leaf = true;
        SlabObj obj;
    };
    // maple_big_node: the data of one level while it is rebuilt.
    struct Big {
        uint64_t min = 0;
        unsigned n = 0;
        bool leaf = true;
        uint64_t pivot[BIG], slot[BIG], gap[BIG];
        void push(uint64_t p, uint64_t s, uint64_t gp) {
            pivot[n] = p, slot[n] = s, gap[n] = gp, n++;
        }
    };
    // The nodes a store may take (mas_preallocate) and what it took beyond them.
    struct Prealloc;

    Node& nd(uint32_t id) { return nodes_[id]; }
    const Node& nd(uint32_t id) const { return nodes_[id]; }
    unsigned slots(bool leaf) const { return leaf ? g_.leaf_slots : g_.arange_slots; }
    unsigned min_slots(bool leaf) const { return leaf ? g_.leaf_min : g_.arange_min; }
    uint64_t range_min(const Node& x, unsigned i) const { return i ? x.pivot[i - 1] + 1 : x.min; }
    bool is_root(uint32_t id) const { return nd(id).parent == NIL; }

    uint32_t take_id(); // a free slot of nodes_ (reused, or a new one)
    uint32_t new_node(Prealloc& p, bool leaf);
    void release(uint32_t id); // the node's object goes back and its id is reused
    uint32_t build(Prealloc& p, const Big& b, unsigned from, unsigned to, uint64_t min);
    void fill(uint32_t id, const Big& b, unsigned from, unsigned to, uint64_t min);
    void copy_out(const Node& x, unsigned from, unsigned to, Big& b) const;
    uint64_t max_gap(const Node& x) const;
    void place(uint32_t id, uint32_t old, unsigned new_height);
    void update_gaps_from(uint32_t id);
    void free_replaced(uint32_t top, unsigned level,
                       const std::vector<std::pair<uint64_t, uint64_t>>& ranges);
    void new_root(Prealloc& p, uint64_t entry);
    void free_subtree(uint32_t id);
    uint32_t leaf_for(uint64_t index) const;

    unsigned no_null_split(const Big& b, unsigned split, unsigned b_end) const;
    void split(Prealloc& p, uint32_t cur, Big& b);
    bool push(Prealloc& p, uint32_t cur, Big& b, bool left);
    void rebalance(Prealloc& p, uint32_t leaf, Big& b);
    void spanning_rebalance(Prealloc& p, uint32_t l, uint32_t r, Big& b);
    bool pull_neighbour(uint32_t& l, uint32_t& r, Big& b) const;

    void count_store(maple_store s) {
        last_store_ = s;
        stats_.stores[unsigned(s)]++;
    }

    MapleNodeSource& src_;
    MapleGeometry g_;
    bool rcu_;
    uint32_t root_ = NIL;
    unsigned height_ = 0;
    uint64_t nr_nodes_ = 0;
    std::vector<Node> nodes_;
    std::vector<uint32_t> free_ids_;
    maple_store last_store_ = maple_store::store_root;
    Stats stats_;
};

} // namespace mmemu
