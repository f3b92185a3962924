// The maple tree's store paths, after lib/maple_tree.c (Linux 6.17/6.18: mas_wr_store_type,
// mas_prealloc_calc, mas_wr_node_store, mas_split, mas_push_data, mab_calc_split,
// mab_no_null_split, mas_rebalance, mas_spanning_rebalance, mast_spanning_rebalance,
// mas_wr_spanning_store, mas_extend_spanning_null, mas_wr_extend_null, __mt_dup). The rules are
// in docs/dev/maple-tree-facts.md; this is mmemu's own code for them.
#include "mmcore/maple_tree.h"

#include <algorithm>

#include "mmcore/bug.h"

namespace mmemu {

const char* to_string(maple_store s) {
    switch (s) {
    case maple_store::store_root: return "store_root";
    case maple_store::exact_fit: return "exact_fit";
    case maple_store::append: return "append";
    case maple_store::slot_store: return "slot_store";
    case maple_store::node_store: return "node_store";
    case maple_store::split_store: return "split_store";
    case maple_store::rebalance: return "rebalance";
    case maple_store::spanning_store: return "spanning_store";
    case maple_store::new_root: return "new_root";
    }
    return "?";
}

// mas_preallocate() / mas_destroy(): the nodes a store asked for up front; what it does not use
// goes back when the store is done.
struct MapleTree::Prealloc {
    MapleTree& t;
    std::vector<SlabObj> objs;
    explicit Prealloc(MapleTree& tree) : t(tree) {}
    Prealloc(const Prealloc&) = delete;
    Prealloc& operator=(const Prealloc&) = delete;
    bool take(unsigned n) {
        for (unsigned i = 0; i < n; i++) {
            const SlabObj o = t.src_.alloc_node();
            if (o.null()) return false; // the destructor gives back what was had
            t.stats_.node_allocs++;
            objs.push_back(o);
        }
        return true;
    }
    SlabObj pop() {
        if (objs.empty()) {
            // The kernel's request always covers the store (it would BUG otherwise); a store
            // here that needs more is a divergence of this model, counted for the tests.
            t.stats_.prealloc_shortfall++;
            const SlabObj o = t.src_.alloc_node();
            if (o.null()) throw KernelBug("maple tree: a store needed a node beyond its request");
            t.stats_.node_allocs++;
            return o;
        }
        const SlabObj o = objs.back();
        objs.pop_back();
        return o;
    }
    ~Prealloc() {
        for (SlabObj o : objs) {
            t.src_.free_node(o);
            t.stats_.node_frees++;
        }
    }
};

MapleTree::MapleTree(MapleNodeSource& nodes, MapleGeometry g, bool rcu)
    : src_(nodes), g_(g), rcu_(rcu) {}

MapleTree::~MapleTree() {
    destroy();
}

uint32_t MapleTree::take_id() {
    if (free_ids_.empty()) {
        nodes_.emplace_back();
        return uint32_t(nodes_.size() - 1);
    }
    const uint32_t id = free_ids_.back();
    free_ids_.pop_back();
    return id;
}

uint32_t MapleTree::new_node(Prealloc& p, bool leaf) {
    const SlabObj obj = p.pop();
    const uint32_t id = take_id();
    Node& x = nodes_[id];
    x.obj = obj;
    x.leaf = leaf;
    x.parent = NIL;
    x.parent_slot = 0;
    x.n = 0;
    nr_nodes_++;
    return id;
}

void MapleTree::release(uint32_t id) {
    src_.free_node(nd(id).obj);
    stats_.node_frees++;
    nd(id).obj = SlabObj{};
    nr_nodes_--;
    free_ids_.push_back(id);
}

void MapleTree::fill(uint32_t id, const Big& b, unsigned from, unsigned to, uint64_t min) {
    Node& x = nd(id);
    x.leaf = b.leaf;
    x.n = uint8_t(to - from + 1);
    x.min = min;
    x.max = b.pivot[to];
    for (unsigned i = 0; i < x.n; i++) {
        x.pivot[i] = b.pivot[from + i];
        x.slot[i] = b.slot[from + i];
        x.gap[i] = b.gap[from + i];
    }
    if (!x.leaf) {
        for (unsigned i = 0; i < x.n; i++) {
            Node& c = nd(uint32_t(x.slot[i]));
            c.parent = id;
            c.parent_slot = uint8_t(i);
        }
    }
}

uint32_t MapleTree::build(Prealloc& p, const Big& b, unsigned from, unsigned to, uint64_t min) {
    const uint32_t id = new_node(p, b.leaf);
    fill(id, b, from, to, min);
    return id;
}

void MapleTree::copy_out(const Node& x, unsigned from, unsigned to, Big& b) const {
    for (unsigned i = from; i <= to && i < x.n; i++) b.push(x.pivot[i], x.slot[i], x.gap[i]);
}

// mas_leaf_max_gap() / ma_max_gap(): the number of indices in the largest NULL range under x.
uint64_t MapleTree::max_gap(const Node& x) const {
    uint64_t best = 0;
    if (!x.leaf) {
        for (unsigned i = 0; i < x.n; i++) best = std::max(best, x.gap[i]);
        return best;
    }
    for (unsigned i = 0; i < x.n; i++) {
        if (x.slot[i]) continue;
        const uint64_t lo = range_min(x, i), span = x.pivot[i] - lo;
        best = std::max(best, span == UINT64_MAX ? span : span + 1);
    }
    return best;
}

// mas_put_in_tree() + mas_update_gap(): `id` takes the place of `old` (NIL: nothing, a new root).
void MapleTree::place(uint32_t id, uint32_t old, unsigned new_height) {
    if (old == NIL || nd(old).parent == NIL) {
        root_ = id;
        nd(id).parent = NIL;
        nd(id).parent_slot = 0;
        height_ = new_height;
        return;
    }
    const uint32_t p = nd(old).parent;
    const unsigned s = nd(old).parent_slot;
    nd(p).slot[s] = id;
    nd(id).parent = p;
    nd(id).parent_slot = uint8_t(s);
    update_gaps_from(id);
}

void MapleTree::update_gaps_from(uint32_t id) {
    for (uint32_t x = id; nd(x).parent != NIL; x = nd(x).parent) {
        const uint64_t gp = max_gap(nd(x));
        Node& p = nd(nd(x).parent);
        if (p.gap[nd(x).parent_slot] == gp) break;
        p.gap[nd(x).parent_slot] = gp;
    }
}

void MapleTree::free_subtree(uint32_t id) {
    if (!nd(id).leaf)
        for (unsigned i = 0; i < nd(id).n; i++) free_subtree(uint32_t(nd(id).slot[i]));
    release(id);
}

// mas_topiary_replace(): free the old node `top` (at `level`, leaves being level 0) and every
// old node below it whose range lies in the part of its level that was rebuilt; the others were
// adopted by the new nodes.
void MapleTree::free_replaced(uint32_t top, unsigned level,
                              const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
    struct Item {
        uint32_t id;
        unsigned level;
    };
    std::vector<Item> todo{{top, level}};
    while (!todo.empty()) {
        const Item it = todo.back();
        todo.pop_back();
        const Node& x = nd(it.id);
        if (!x.leaf) {
            const unsigned cl = it.level - 1;
            const auto [lo, hi] = cl < ranges.size() ? ranges[cl] : std::pair{uint64_t{0}, g_.max};
            for (unsigned i = 0; i < x.n; i++) {
                const Node& c = nd(uint32_t(x.slot[i]));
                if (c.max >= lo && c.min <= hi) todo.push_back({uint32_t(x.slot[i]), cl});
            }
        }
        release(it.id);
    }
}

uint32_t MapleTree::leaf_for(uint64_t index) const {
    uint32_t x = root_;
    while (!nd(x).leaf) {
        const Node& n = nd(x);
        unsigned i = 0;
        while (i + 1 < n.n && index > n.pivot[i]) i++;
        x = uint32_t(n.slot[i]);
    }
    return x;
}

void MapleTree::destroy() {
    if (root_ != NIL) free_subtree(root_);
    root_ = NIL;
    height_ = 0;
}

// mab_no_null_split(): a leaf may not end on a NULL; move the split right if the right side
// stays sufficient, else left. Internal nodes hold no NULLs.
unsigned MapleTree::no_null_split(const Big& b, unsigned split, unsigned b_end) const {
    if (b.leaf && !b.slot[split]) {
        if (split < slots(b.leaf) - 1 && b_end - split > min_slots(b.leaf))
            split++;
        else
            split--;
    }
    return split;
}

bool MapleTree::store(uint64_t first, uint64_t last, uint64_t entry) {
    if (first > last || last > g_.max) throw KernelBug("maple tree: store of an invalid range");
    Prealloc p(*this);

    // wr_store_root: an empty tree (mas_root_expand makes its first leaf).
    if (root_ == NIL) {
        if (!entry) return true;
        if (!p.take(1)) return false;
        count_store(maple_store::store_root);
        Big b;
        b.leaf = true;
        if (first) b.push(first - 1, 0, 0);
        b.push(last, entry, 0);
        if (last != g_.max) b.push(g_.max, 0, 0);
        const uint32_t id = build(p, b, 0, b.n - 1, 0);
        place(id, NIL, 1);
        return true;
    }

    // mas_wr_walk(): down to the leaf holding `first`, noting the lowest internal node with a
    // free slot (vacant_height) and the lowest that can lose a child (sufficient_height), and
    // stopping when the write spans beyond the child it would descend into.
    unsigned depth = 0, vacant = 0, sufficient = 0;
    bool span = false;
    uint32_t x = root_;
    for (;;) {
        const Node& n = nd(x);
        unsigned off = 0;
        while (off + 1 < n.n && first > n.pivot[off]) off++;
        const uint64_t r_max = n.leaf ? n.max : n.pivot[off];
        if (last > r_max || (last == r_max && !entry && last != g_.max)) {
            span = true;
            break;
        }
        if (n.leaf) break;
        depth++;
        if (n.n - 1u < g_.arange_slots - 1) vacant = depth;
        if (x == root_) {
            if (n.n - 1u > 2) sufficient = 1;
        } else if (n.n - 1u > g_.arange_min + 1) {
            sufficient = depth;
        }
        x = uint32_t(n.slot[off]);
    }
    const unsigned H = height_;
    auto by_height = [&](unsigned per_level) {
        const unsigned from = sufficient < vacant ? sufficient : vacant;
        return (H - from) * per_level + 1;
    };

    if (span) {
        if (!p.take(by_height(3))) return false;
        count_store(maple_store::spanning_store);
        // mas_wr_spanning_store(): the left leaf holds `first`, the right one `last + 1`.
        uint32_t l = leaf_for(first);
        const uint32_t r = leaf_for(last == g_.max ? last : last + 1);
        const Node& L = nd(l);
        const Node& R = nd(r);
        unsigned loff = 0;
        while (loff + 1 < L.n && first > L.pivot[loff]) loff++;
        unsigned roff = 0;
        const uint64_t rkey = last == g_.max ? last : last + 1;
        while (roff + 1 < R.n && rkey > R.pivot[roff]) roff++;
        const uint64_t lcontent = L.slot[loff];
        if (!entry) { // mas_extend_spanning_null()
            const uint64_t lmin = range_min(L, loff);
            if (!lcontent) first = lmin;
            if (first == lmin && loff && !L.slot[loff - 1]) {
                loff--;
                first = range_min(L, loff);
            }
            if (!R.slot[roff]) {
                if (last < R.pivot[roff]) last = R.pivot[roff];
                roff++;
            } else if (last == R.pivot[roff] && last < R.max && !R.slot[roff + 1]) {
                last = R.pivot[roff + 1];
                roff++;
            }
        }
        if (!first && last == g_.max) {
            new_root(p, entry);
            return true;
        }
        Big b;
        b.leaf = true;
        b.min = L.min;
        if (loff) copy_out(L, 0, loff - 1, b);
        if (range_min(L, loff) < first) b.push(first - 1, lcontent, 0);
        b.push(last, entry, 0);
        if (R.max > last) copy_out(R, roff, R.n - 1, b);
        spanning_rebalance(p, l, r, b);
        return true;
    }

    // The leaf: mas_wr_end_piv(), mas_wr_extend_null(), then the store type.
    Node& n = nd(x);
    const unsigned end = n.n - 1u;
    unsigned offset = 0;
    while (offset < end && first > n.pivot[offset]) offset++;
    uint64_t r_min = range_min(n, offset), r_max = n.pivot[offset];
    const uint64_t content = n.slot[offset];
    unsigned offset_end = offset;
    while (offset_end < end && last > n.pivot[offset_end]) offset_end++;
    uint64_t end_piv = n.pivot[offset_end];
    if (!entry) {
        if (!n.slot[offset_end]) {
            last = end_piv;
        } else if (last == end_piv && end != offset_end && !n.slot[offset_end + 1]) {
            offset_end++;
            last = end_piv = n.pivot[offset_end];
        }
        if (!content) {
            first = r_min;
        } else if (first == r_min && offset && !n.slot[offset - 1]) {
            offset--;
            r_min = first = range_min(n, offset);
            r_max = n.pivot[offset];
        }
    }
    if (r_min == first && r_max == last) {
        count_store(maple_store::exact_fit);
        n.slot[offset] = entry;
        if (!entry != !content) update_gaps_from(x);
        return true;
    }
    if (!first && last == g_.max) {
        if (!p.take(1)) return false;
        new_root(p, entry);
        count_store(maple_store::new_root);
        return true;
    }
    const unsigned new_end =
        end + 2 - (offset_end - offset) - (r_min == first ? 1 : 0) - (end_piv == last ? 1 : 0);
    maple_store type;
    if (new_end < g_.leaf_min)
        type = x != root_ ? maple_store::rebalance : maple_store::node_store;
    else if (new_end >= g_.leaf_slots)
        type = maple_store::split_store;
    else if (!rcu_ && offset == end)
        type = maple_store::append;
    else if (new_end == end && (!rcu_ || offset_end - offset == 1))
        type = maple_store::slot_store;
    else
        type = maple_store::node_store;
    unsigned request = 0;
    switch (type) {
    case maple_store::node_store: request = rcu_ ? 1 : 0; break;
    case maple_store::split_store: request = (H - vacant) * 2 + 1; break;
    case maple_store::rebalance: request = by_height(2); break;
    default: break;
    }
    if (!p.take(request)) return false;
    count_store(type);

    // The leaf's new data (mas_store_b_node()).
    Big b;
    b.leaf = true;
    b.min = n.min;
    if (offset) copy_out(n, 0, offset - 1, b);
    if (r_min < first) b.push(first - 1, content, 0);
    b.push(last, entry, 0);
    if (end_piv > last) b.push(end_piv, n.slot[offset_end], 0);
    if (offset_end < end) copy_out(n, offset_end + 1, end, b);
    if (b.n != new_end + 1u) throw KernelBug("maple tree: new_end does not match the data");

    switch (type) {
    case maple_store::append:
    case maple_store::slot_store:
        fill(x, b, 0, b.n - 1, b.min);
        update_gaps_from(x);
        break;
    case maple_store::node_store:
        if (!rcu_) {
            fill(x, b, 0, b.n - 1, b.min);
            update_gaps_from(x);
        } else {
            const uint32_t id = build(p, b, 0, b.n - 1, b.min);
            place(id, x, height_);
            release(x);
        }
        break;
    case maple_store::split_store: split(p, x, b); break;
    case maple_store::rebalance: rebalance(p, x, b); break;
    default: break;
    }
    return true;
}

// mas_new_root() (also reached from a spanning store that covers everything): the old tree
// goes, and a non-NULL entry gets one leaf of its own.
void MapleTree::new_root(Prealloc& p, uint64_t entry) {
    destroy();
    if (!entry) return;
    Big b;
    b.leaf = true;
    b.push(g_.max, entry, 0);
    const uint32_t id = build(p, b, 0, 0, 0);
    place(id, NIL, 1);
}

// mas_split(): the data of `cur` does not fit one node. Try to push into a sibling, else split
// in two and carry the new child up; the first level whose data fits ends it.
void MapleTree::split(Prealloc& p, uint32_t cur, Big& b) {
    std::vector<uint32_t> dead;
    for (;;) {
        if (b.n <= slots(b.leaf)) { // mas_split_final_node()
            const uint32_t id = build(p, b, 0, b.n - 1, b.min);
            place(id, cur, cur == NIL ? height_ + 1 : height_);
            if (cur != NIL) dead.push_back(cur);
            break;
        }
        if (cur != NIL && !is_root(cur) && (push(p, cur, b, true) || push(p, cur, b, false))) break;
        // mab_calc_split(): half of the data, not ending a leaf on NULL (no 3-way split can
        // come from one store into one node).
        const unsigned b_end = b.n - 1;
        const unsigned sp = no_null_split(b, b_end / 2, b_end);
        const uint32_t l = build(p, b, 0, sp, b.min);
        const uint32_t r = build(p, b, sp + 1, b_end, b.pivot[sp] + 1);
        Big nb;
        nb.leaf = false;
        if (cur == NIL || is_root(cur)) {
            nb.min = 0;
            nb.push(nd(l).max, l, max_gap(nd(l)));
            nb.push(nd(r).max, r, max_gap(nd(r)));
            if (cur != NIL) dead.push_back(cur);
            cur = NIL;
        } else {
            const uint32_t par = nd(cur).parent;
            const unsigned ps = nd(cur).parent_slot;
            const Node& P = nd(par);
            nb.min = P.min;
            if (ps) copy_out(P, 0, ps - 1, nb);
            nb.push(nd(l).max, l, max_gap(nd(l)));
            nb.push(P.pivot[ps], r, max_gap(nd(r)));
            copy_out(P, ps + 1, P.n - 1, nb);
            dead.push_back(cur);
            cur = par;
        }
        b = nb;
    }
    for (uint32_t d : dead) release(d);
}

// mas_push_data(): instead of splitting, share the data with the previous (left) or next
// sibling when the two together leave room; the parent is copied with its two new children.
bool MapleTree::push(Prealloc& p, uint32_t cur, Big& b, bool left) {
    const uint32_t par = nd(cur).parent;
    const unsigned ps = nd(cur).parent_slot;
    if (left ? ps == 0 : ps + 1u >= nd(par).n) return false;
    const uint32_t sib = uint32_t(nd(par).slot[left ? ps - 1 : ps + 1]);
    const unsigned S = slots(b.leaf);
    const unsigned end = nd(sib).n - 1u;
    const unsigned slot_total = (b.n - 1) + end;
    unsigned space = 2 * S - 2;
    if (b.leaf) space--;
    if (nd(cur).max == g_.max) space--;
    if (slot_total >= space) return false;

    Big comb;
    comb.leaf = b.leaf;
    unsigned split, b_end;
    if (left) {
        comb.min = nd(sib).min;
        copy_out(nd(sib), 0, end, comb);
        for (unsigned i = 0; i < b.n; i++) comb.push(b.pivot[i], b.slot[i], b.gap[i]);
        split = S - 2;
        b_end = comb.n - 1; // the big node's last index
    } else {
        comb.min = b.min;
        for (unsigned i = 0; i < b.n; i++) comb.push(b.pivot[i], b.slot[i], b.gap[i]);
        copy_out(nd(sib), 0, end, comb);
        split = slot_total - (S - 2);
        b_end = comb.n; // here the kernel's b_end is the count (mas_mab_cp leaves it so)
    }
    split = no_null_split(comb, split, b_end);
    const uint32_t l = build(p, comb, 0, split, comb.min);
    const uint32_t r = build(p, comb, split + 1, comb.n - 1, comb.pivot[split] + 1);
    Big nb;
    nb.leaf = false;
    nb.min = nd(par).min;
    copy_out(nd(par), 0, nd(par).n - 1, nb);
    const unsigned f = left ? ps - 1 : ps;
    nb.pivot[f] = nd(l).max;
    nb.slot[f] = l;
    nb.gap[f] = max_gap(nd(l));
    nb.slot[f + 1] = r;
    nb.gap[f + 1] = max_gap(nd(r));
    const uint32_t np = build(p, nb, 0, nb.n - 1, nb.min);
    place(np, par, height_);
    release(cur);
    release(sib);
    release(par);
    return true;
}

// mas_rebalance(): an insufficient leaf takes in its next sibling, or its previous one when it
// is the last child, and the pair is rebuilt by mas_spanning_rebalance().
void MapleTree::rebalance(Prealloc& p, uint32_t leaf, Big& b) {
    const uint32_t par = nd(leaf).parent;
    const unsigned ps = nd(leaf).parent_slot;
    uint32_t l = leaf, r = leaf;
    if (ps + 1u < nd(par).n) {
        r = uint32_t(nd(par).slot[ps + 1]);
        copy_out(nd(r), 0, nd(r).n - 1, b);
    } else if (ps) {
        l = uint32_t(nd(par).slot[ps - 1]);
        Big nb;
        nb.leaf = b.leaf;
        nb.min = nd(l).min;
        copy_out(nd(l), 0, nd(l).n - 1, nb);
        for (unsigned i = 0; i < b.n; i++) nb.push(b.pivot[i], b.slot[i], b.gap[i]);
        b = nb;
    }
    spanning_rebalance(p, l, r, b);
}

// mast_spanning_rebalance(): bring in the nearest node of the same level, looking right first
// and then left at each level going up.
bool MapleTree::pull_neighbour(uint32_t& l, uint32_t& r, Big& b) const {
    uint32_t xl = l, xr = r;
    unsigned depth = 0;
    while (!is_root(xr)) {
        const unsigned lo = nd(xl).parent_slot, ro = nd(xr).parent_slot;
        xl = nd(xl).parent;
        xr = nd(xr).parent;
        depth++;
        if (ro + 1u < nd(xr).n) {
            uint32_t y = uint32_t(nd(xr).slot[ro + 1]);
            for (unsigned d = 1; d < depth; d++) y = uint32_t(nd(y).slot[0]);
            copy_out(nd(y), 0, nd(y).n - 1, b);
            r = y;
            return true;
        }
        if (lo != 0) {
            uint32_t y = uint32_t(nd(xl).slot[lo - 1]);
            for (unsigned d = 1; d < depth; d++) y = uint32_t(nd(y).slot[nd(y).n - 1]);
            Big nb;
            nb.leaf = b.leaf;
            nb.min = nd(y).min;
            copy_out(nd(y), 0, nd(y).n - 1, nb);
            for (unsigned i = 0; i < b.n; i++) nb.push(b.pivot[i], b.slot[i], b.gap[i]);
            b = nb;
            l = y;
            return true;
        }
    }
    return false;
}

// mas_spanning_rebalance(): rebuild the level of old nodes l..r from the data b, then each
// level above, until the data of a level fits one node where the left and right paths meet
// (or at the root). A level whose one node covers everything becomes the root.
void MapleTree::spanning_rebalance(Prealloc& p, uint32_t l, uint32_t r, Big& b) {
    std::vector<std::pair<uint64_t, uint64_t>> ranges; // rebuilt range of each level, leaves first
    const unsigned old_height = height_;
    if (!(nd(l).min == 0 && nd(r).max == g_.max) && b.n <= min_slots(b.leaf))
        pull_neighbour(l, r, b);
    bool above_root = false;
    for (;;) {
        ranges.emplace_back(nd(l).min, nd(r).max);
        // mas_mab_to_node(): one node, two, or (rarely) three.
        const unsigned b_end = b.n - 1, S = slots(b.leaf);
        uint32_t made[3];
        unsigned nm = 0;
        if (b_end < S) {
            made[nm++] = build(p, b, 0, b_end, b.min);
        } else {
            unsigned sp = b_end / 2, mid = 0;
            if (b_end >= 2 * S || (b.leaf && !b.slot[sp] && b_end >= 2 * S - 1)) {
                sp = b_end / 3;
                mid = sp * 2;
            }
            sp = no_null_split(b, sp, b_end);
            if (mid) mid = no_null_split(b, mid, b_end);
            made[nm++] = build(p, b, 0, sp, b.min);
            if (mid) {
                made[nm++] = build(p, b, sp + 1, mid, b.pivot[sp] + 1);
                made[nm++] = build(p, b, mid + 1, b_end, b.pivot[mid] + 1);
            } else {
                made[nm++] = build(p, b, sp + 1, b_end, b.pivot[sp] + 1);
            }
        }
        if (nm == 1 && nd(made[0]).min == 0 && nd(made[0]).max == g_.max) {
            // The new root is already made; everything above this level goes.
            const uint32_t old_root = root_;
            place(made[0], NIL, unsigned(ranges.size()));
            free_replaced(old_root, old_height - 1, ranges);
            return;
        }
        Big nb;
        nb.leaf = false;
        if (is_root(l)) { // the root itself split: a new root above it
            nb.min = 0;
            for (unsigned i = 0; i < nm; i++)
                nb.push(nd(made[i]).max, made[i], max_gap(nd(made[i])));
            b = nb;
            above_root = true;
            break;
        }
        // mast_ascend() + mast_combine_cp_left/right(): the parents' data around the new nodes.
        const uint32_t lp = nd(l).parent, rp = nd(r).parent;
        const unsigned lo = nd(l).parent_slot, ro = nd(r).parent_slot;
        nb.min = nd(lp).min;
        if (lo) copy_out(nd(lp), 0, lo - 1, nb);
        for (unsigned i = 0; i < nm; i++) nb.push(nd(made[i]).max, made[i], max_gap(nd(made[i])));
        if (nb.pivot[nb.n - 1] < nd(rp).max) copy_out(nd(rp), ro + 1, nd(rp).n - 1, nb);
        b = nb;
        l = lp;
        r = rp;
        if (b.n > g_.arange_min) {               // mast_sufficient()
            if (b.n > g_.arange_slots) continue; // mast_overflow()
            if (l == r) break;
            continue;
        }
        if (is_root(l)) break; // the root may keep as few as two children
        pull_neighbour(l, r, b);
    }
    // The last level's one node: it takes the place of `l` (the root, or where the two paths
    // met), or goes above the old root.
    const uint32_t id = build(p, b, 0, b.n - 1, b.min);
    const unsigned level = unsigned(ranges.size());
    if (above_root) {
        const uint32_t old_root = root_;
        place(id, NIL, level + 1);
        free_replaced(old_root, old_height - 1, ranges);
        return;
    }
    place(id, l, level + 1);
    free_replaced(l, level, ranges);
}

bool MapleTree::dup_from(const MapleTree& src) {
    destroy();
    if (src.root_ == NIL) return true;
    std::vector<uint32_t> made;
    auto alloc = [&](const Node& from) -> uint32_t {
        const SlabObj o = src_.alloc_node();
        if (o.null()) return NIL;
        stats_.node_allocs++;
        const uint32_t id = take_id();
        nodes_[id] = from;
        nodes_[id].obj = o;
        nr_nodes_++;
        made.push_back(id);
        return id;
    };
    // mas_dup_build(): the root, then for each internal node (pre-order) all its children at
    // once (mas_dup_alloc).
    const uint32_t root = alloc(src.nd(src.root_));
    bool ok = root != NIL;
    std::vector<std::pair<uint32_t, uint32_t>> todo; // (new id, source id)
    if (ok) todo.emplace_back(root, src.root_);
    while (ok && !todo.empty()) {
        const auto [id, sid] = todo.back();
        todo.pop_back();
        if (nd(id).leaf) continue;
        const Node& s = src.nd(sid);
        uint32_t kids[MAX_SLOTS];
        for (unsigned i = 0; i < s.n && ok; i++) {
            kids[i] = alloc(src.nd(uint32_t(s.slot[i])));
            ok = kids[i] != NIL;
        }
        if (!ok) break;
        for (unsigned i = 0; i < s.n; i++) {
            nd(id).slot[i] = kids[i];
            nd(kids[i]).parent = id;
            nd(kids[i]).parent_slot = uint8_t(i);
        }
        for (unsigned i = s.n; i-- > 0;) todo.emplace_back(kids[i], uint32_t(s.slot[i]));
    }
    if (!ok) {
        for (uint32_t id : made) release(id);
        return false;
    }
    // Parent links were set as children were made; the root has none.
    nd(root).parent = NIL;
    root_ = root;
    height_ = src.height_;
    return true;
}

uint64_t MapleTree::load(uint64_t index) const {
    const auto r = range_at(index);
    return r ? r->entry : 0;
}

std::optional<MapleRange> MapleTree::range_at(uint64_t index) const {
    if (root_ == NIL || index > g_.max) return std::nullopt;
    const Node& x = nd(leaf_for(index));
    unsigned i = 0;
    while (i + 1 < x.n && index > x.pivot[i]) i++;
    return MapleRange{range_min(x, i), x.pivot[i], x.slot[i]};
}

std::optional<MapleRange> MapleTree::find(uint64_t index, uint64_t max) const {
    if (root_ == NIL || index > max || index > g_.max) return std::nullopt;
    uint32_t id = leaf_for(index);
    unsigned i = 0;
    while (i + 1 < nd(id).n && index > nd(id).pivot[i]) i++;
    for (;;) {
        const Node& x = nd(id);
        for (; i < x.n; i++) {
            if (range_min(x, i) > max) return std::nullopt;
            if (x.slot[i]) return MapleRange{range_min(x, i), x.pivot[i], x.slot[i]};
        }
        if (x.max >= max || x.max == g_.max) return std::nullopt;
        id = leaf_for(x.max + 1);
        i = 0;
    }
}

std::optional<MapleRange> MapleTree::find_rev(uint64_t index, uint64_t min) const {
    if (root_ == NIL || index < min) return std::nullopt;
    if (index > g_.max) index = g_.max;
    uint32_t id = leaf_for(index);
    int i = 0;
    while (i + 1 < nd(id).n && index > nd(id).pivot[i]) i++;
    for (;;) {
        const Node& x = nd(id);
        for (; i >= 0; i--) {
            if (x.pivot[i] < min) return std::nullopt;
            if (x.slot[i]) return MapleRange{range_min(x, unsigned(i)), x.pivot[i], x.slot[i]};
        }
        if (x.min <= min || x.min == 0) return std::nullopt;
        id = leaf_for(x.min - 1);
        i = nd(id).n - 1;
    }
}

// mas_empty_area() / mas_empty_area_rev(): descend only into children whose gap can hold
// `size`, clip each leaf NULL range to [min, max], and take the first that still holds it.
std::optional<uint64_t> MapleTree::empty_area(uint64_t min, uint64_t max, uint64_t size) const {
    if (!size || min > max || max - min < size - 1) return std::nullopt;
    if (root_ == NIL) return min;
    struct Walk {
        const MapleTree& t;
        uint64_t min, max, size;
        std::optional<uint64_t> go(uint32_t id) const {
            const Node& x = t.nd(id);
            for (unsigned i = 0; i < x.n; i++) {
                const uint64_t lo = t.range_min(x, i), hi = x.pivot[i];
                if (hi < min) continue;
                if (lo > max) break;
                if (x.leaf) {
                    if (x.slot[i]) continue;
                    const uint64_t a = std::max(lo, min), b = std::min(hi, max);
                    if (b - a >= size - 1) return a;
                } else if (x.gap[i] >= size) {
                    if (auto r = go(uint32_t(x.slot[i]))) return r;
                }
            }
            return std::nullopt;
        }
    };
    return Walk{*this, min, max, size}.go(root_);
}

std::optional<uint64_t> MapleTree::empty_area_rev(uint64_t min, uint64_t max, uint64_t size) const {
    if (!size || min > max || max - min < size - 1) return std::nullopt;
    if (root_ == NIL) return max - (size - 1);
    struct Walk {
        const MapleTree& t;
        uint64_t min, max, size;
        std::optional<uint64_t> go(uint32_t id) const {
            const Node& x = t.nd(id);
            for (unsigned i = x.n; i-- > 0;) {
                const uint64_t lo = t.range_min(x, i), hi = x.pivot[i];
                if (lo > max) continue;
                if (hi < min) break;
                if (x.leaf) {
                    if (x.slot[i]) continue;
                    const uint64_t a = std::max(lo, min), b = std::min(hi, max);
                    if (b - a >= size - 1) return b - (size - 1);
                } else if (x.gap[i] >= size) {
                    if (auto r = go(uint32_t(x.slot[i]))) return r;
                }
            }
            return std::nullopt;
        }
    };
    return Walk{*this, min, max, size}.go(root_);
}

std::vector<std::vector<unsigned>> MapleTree::shape() const {
    std::vector<std::vector<unsigned>> out;
    if (root_ == NIL) return out;
    std::vector<uint32_t> level{root_};
    while (!level.empty()) {
        std::vector<unsigned> sizes;
        std::vector<uint32_t> next;
        for (uint32_t id : level) {
            sizes.push_back(nd(id).n);
            if (!nd(id).leaf)
                for (unsigned i = 0; i < nd(id).n; i++) next.push_back(uint32_t(nd(id).slot[i]));
        }
        out.push_back(std::move(sizes));
        level = std::move(next);
    }
    return out;
}

std::string MapleTree::validate() const {
    if (root_ == NIL) return height_ == 0 && nr_nodes_ == 0 ? "" : "empty tree with nodes";
    if (nd(root_).parent != NIL) return "root has a parent";
    uint64_t count = 0;
    bool prev_null = false, have_prev = false;
    std::string err;
    auto fail = [&](const std::string& m, const Node& x) {
        if (err.empty())
            err = m + " (node [" + std::to_string(x.min) + ", " + std::to_string(x.max) + "])";
    };
    struct Item {
        uint32_t id;
        uint64_t min, max;
        unsigned depth;
    };
    std::vector<Item> todo{{root_, 0, g_.max, 1}};
    while (!todo.empty() && err.empty()) {
        const Item it = todo.back();
        todo.pop_back();
        const Node& x = nd(it.id);
        count++;
        if (x.min != it.min || x.max != it.max) fail("node limits differ from its parent's", x);
        if (x.n == 0 || x.n > slots(x.leaf)) fail("bad entry count", x);
        if (x.pivot[x.n - 1] != x.max) fail("last pivot is not the node's max", x);
        for (unsigned i = 0; i < x.n; i++)
            if (x.pivot[i] < range_min(x, i) || (i && x.pivot[i] <= x.pivot[i - 1]))
                fail("pivots out of order", x);
        if (it.id != root_ && x.n - 1u < min_slots(x.leaf)) fail("insufficient node", x);
        if (x.leaf) {
            if (it.depth != height_) fail("leaf at the wrong depth", x);
            for (unsigned i = 0; i < x.n; i++) {
                const bool null = !x.slot[i];
                if (null && have_prev && prev_null) fail("two NULL ranges side by side", x);
                prev_null = null;
                have_prev = true;
            }
            if (!x.slot[x.n - 1] && x.max != g_.max) fail("leaf ends with NULL", x);
            continue;
        }
        if (it.id == root_ && x.n < 2) fail("root with one child", x);
        for (unsigned i = x.n; i-- > 0;) {
            const uint32_t c = uint32_t(x.slot[i]);
            if (c >= nodes_.size()) {
                fail("bad child", x);
                break;
            }
            if (nd(c).parent != it.id || nd(c).parent_slot != i) fail("bad parent link", x);
            if (x.gap[i] != max_gap(nd(c))) fail("gap differs from the child's largest gap", x);
            todo.push_back({c, range_min(x, i), x.pivot[i], it.depth + 1});
        }
    }
    if (err.empty() && count != nr_nodes_) err = "node count differs from the nodes reachable";
    return err;
}

} // namespace mmemu
