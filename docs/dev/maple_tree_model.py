#!/usr/bin/env python3
"""
Small model of the Linux 6.18-era maple tree (lib/maple_tree.c in the linux-next
snapshot the fact sheet calls [B]) for an MT_FLAGS_ALLOC_RANGE | MT_FLAGS_USE_RCU
tree (mm->mm_mt, 64-bit: leaf_64 16 slots, arange_64 10 slots, mt_min_slots
leaf 6 / arange 4).  It is written from reading the kernel functions, not copied
from them, and exists to cross-check node counts and node shapes.

What it models (Tree.store(first, last, value); value None means NULL/erase):
  * store type choice as mas_wr_store_type(): the write walk with the spanning
    test of mas_is_span_wr() at every level, mas_wr_end_piv(),
    mas_wr_extend_null(), mas_wr_new_end(), then wr_store_root (root expand),
    wr_exact_fit, wr_new_root, wr_rebalance (non-root leaf with new_end < 6),
    wr_split_store (new_end >= 16), wr_slot_store (RCU: new_end == end and the
    write touches exactly two slots), wr_node_store (RCU: the leaf is replaced
    1:1).  wr_append is never chosen because the tree is in RCU mode.
  * mas_split() with mas_push_data() left/right, mab_calc_split() and
    mab_no_null_split(), and a new arange root when the root splits.
  * mas_rebalance(): merge with the right sibling, else the left one, then
  * mas_spanning_rebalance(): per level mas_mab_to_node() (1 node, or 2, or 3 in
    the 3-way case of mab_middle_node()), the new-root shortcut when the left
    node covers [0, ULONG_MAX] (height shrinks), mast_ascend(),
    mast_combine_cp_left/right(), mast_sufficient()/mast_overflow(), the
    convergence stop (orig_l == orig_r), the stop at an insufficient root, and
    mast_spanning_rebalance() pulling in the nearest neighbour at the same depth
    (right first, then left, climbing until a level has one).
  * mas_wr_spanning_store(): left and right walks, mas_extend_spanning_null()
    for NULL writes, the big node built as mas_store_b_node() + right leaf tail,
    and mas_new_root() when the (widened) range is [0, ULONG_MAX].
  * An erase of the last range empties the tree (mas_new_root with NULL).

What it does NOT model:
  * gaps (ma_gaps / meta.gap / mas_update_gap): no rule here depends on them;
  * node contents beyond the [pivot, entry] list (metadata, parent encoding);
  * preallocation counts (mas_prealloc_calc, vacant/sufficient height); the
    `allocs` counter is only the nodes this model builds, `frees` the nodes that
    left the tree, both counted after RCU, so not slab usage;
  * bulk mode (MA_STATE_BULK, mas_destroy_rebalance), wr_append (non-RCU),
    dense nodes, non-alloc trees, and a single entry kept in ma_root (a store
    of [0, 0] into an empty tree raises NotImplementedError);
  * mas_mab_cp()'s copy of a one-entry node (it copies a stray second entry);
    the model raises instead, it never happens for mm-like contents.
Invariants are checked by Tree.check(); see the `--selftest` and `--cases`
command-line modes at the bottom.

How it was checked: node shapes after every op of about 3,300 random page-op
sequences (both generators' kinds, trees up to height 4, all the paths above
including 3-way splits and depth-2 neighbour pulls) equalled those of the real
lib/maple_tree.c of Linux 6.12 (Debian's linux-source-6.12, run in userspace
through tools/testing/radix-tree with mt_validate() after each op), and so did
the shapes in section 8 of the fact sheet.  6.12 is not [B]: it has no
convergence stop in mas_spanning_rebalance() (it rebuilds every level up to
the root), mast_overflow() tests >= instead of >, and mt_validate() exempts
nodes whose max is ULONG_MAX; by reading, none of these changes a shape, but
no [B]/6.18 kernel was run.
"""
import json
import random
import sys

MAX = (1 << 64) - 1
LEAF_SLOTS, AR_SLOTS = 16, 10
MIN_SLOTS = {"leaf": 6, "arange": 4}
SLOTS = {"leaf": LEAF_SLOTS, "arange": AR_SLOTS}


class Node:
    __slots__ = ("leaf", "ents", "parent")

    def __init__(self, leaf, ents, adopt=True):
        self.leaf = leaf
        self.ents = ents          # list of [last_pivot, value]; value None = NULL
        self.parent = None        # last pivot == the node's implied max
        if adopt and not leaf:
            for _, c in ents:
                c.parent = self

    def typ(self):
        return "leaf" if self.leaf else "arange"


class MS:
    """The parts of a struct ma_state the write paths use."""
    __slots__ = ("node", "min", "max", "offset", "index", "last")

    def __init__(self, node, lo, hi, offset=0, index=0, last=0):
        self.node, self.min, self.max = node, lo, hi
        self.offset, self.index, self.last = offset, index, last

    def copy(self):
        return MS(self.node, self.min, self.max, self.offset, self.index, self.last)

    def set(self, o):
        self.node, self.min, self.max = o.node, o.min, o.max
        self.offset, self.index, self.last = o.offset, o.index, o.last


def _cp(ents):
    return [list(x) for x in ents]


def _cp_node(n):
    """mas_mab_cp() of a whole node from offset 0."""
    if len(n.ents) < 2:
        raise NotImplementedError("mas_mab_cp of a one-entry node (kernel quirk)")
    return _cp(n.ents)


class Tree:
    def __init__(self):
        self.root = None
        self.allocs = 0      # nodes built by the model (incl. ones replaced later)
        self.frees = 0       # nodes that left the tree
        self.stats = {}      # which code paths ran

    # ---------------- helpers
    def _stat(self, k):
        self.stats[k] = self.stats.get(k, 0) + 1

    def node_range(self, n):
        """min,max of node n"""
        lo, hi = 0, MAX
        chain = []
        x = n
        while x.parent is not None:
            chain.append(x)
            x = x.parent
        cur = self.root
        for child in reversed(chain):
            idx = [c for _, c in cur.ents].index(child)
            if idx > 0:
                lo = cur.ents[idx - 1][0] + 1
            hi = cur.ents[idx][0]
            cur = child
        return lo, hi

    def count(self):
        if self.root is None:
            return 0, 0
        tot, h, lvl = 0, 0, [self.root]
        while lvl:
            h += 1
            tot += len(lvl)
            nxt = []
            for n in lvl:
                if not n.leaf:
                    nxt.extend(c for _, c in n.ents)
            lvl = nxt
        return tot, h

    def height(self):
        return self.count()[1]

    def shape(self):
        """entries per node, level by level, root first ([] for an empty tree)"""
        if self.root is None:
            return []
        out, lvl = [], [self.root]
        while lvl:
            out.append([len(n.ents) for n in lvl])
            nxt = []
            for n in lvl:
                if not n.leaf:
                    nxt.extend(c for _, c in n.ents)
            lvl = nxt
        return out

    def entries(self):
        """all leaf entries in order as (first, last, value)"""
        out = []
        if self.root is None:
            return out
        stack = [(self.root, 0, MAX)]
        while stack:
            n, lo, hi = stack.pop()
            if n.leaf:
                for piv, v in n.ents:
                    out.append((lo, piv, v))
                    lo = piv + 1
                continue
            kids = []
            for piv, c in n.ents:
                kids.append((c, lo, piv))
                lo = piv + 1
            stack.extend(reversed(kids))
        return out

    def new(self, leaf, ents, adopt=True):
        self.allocs += 1
        return Node(leaf, ents, adopt)

    def replace(self, old, new):
        """put new in old's place (parent slot or root)"""
        p = old.parent
        if p is None:
            self.root = new
            new.parent = None
        else:
            for e in p.ents:
                if e[1] is old:
                    e[1] = new
            new.parent = p

    def _fix_parents(self):
        if self.root is None:
            return
        self.root.parent = None
        stack = [self.root]
        while stack:
            n = stack.pop()
            if not n.leaf:
                for _, c in n.ents:
                    c.parent = n
                    stack.append(c)

    # ---------------- ma_state moves
    def _ascend(self, ms):
        """mas_ascend(): to the parent, offset = slot of the old node; root stays"""
        p = ms.node.parent
        if p is None:
            ms.offset = 0
            return
        ms.offset = [c for _, c in p.ents].index(ms.node)
        ms.node = p
        ms.min, ms.max = self.node_range(p)

    @staticmethod
    def _descend(ms):
        """mas_descend() into ms.offset"""
        ents = ms.node.ents
        if ms.offset:
            ms.min = ents[ms.offset - 1][0] + 1
        ms.max = ents[ms.offset][0]
        ms.node = ents[ms.offset][1]

    @staticmethod
    def _node_walk(ms):
        """mas_wr_node_walk(): first offset (from ms.offset) whose range holds ms.index"""
        ents = ms.node.ents
        count = len(ents) - 1
        off = ms.offset
        while off < count and ms.index > ents[off][0]:
            off += 1
        r_max = ents[off][0] if off < count else ms.max
        r_min = ents[off - 1][0] + 1 if off else ms.min
        ms.offset = off
        return r_min, r_max

    def _walk_index(self, ms):
        """mas_wr_walk_index(): walk down to the leaf holding ms.index"""
        while True:
            r_min, r_max = self._node_walk(ms)
            content = ms.node.ents[ms.offset][1]
            if ms.node.leaf:
                return content, r_min, r_max
            ms.min, ms.max, ms.node, ms.offset = r_min, r_max, content, 0

    # ---------------- public API
    def insert(self, s, e, v):
        """mas_insert()-style: [s, e] must lie inside one NULL range"""
        got = self.lookup_range(s, e)
        assert got == [None], "not an insert into a NULL gap"
        return self.store(s, e, v)

    def lookup_range(self, s, e):
        return [v for lo, hi, v in self.entries() if hi >= s and lo <= e] or [None]

    def store(self, s, e, v):
        """mas_store_gfp(): store v (None = NULL) over [s, e]; returns the path"""
        assert 0 <= s <= e <= MAX
        before = self.count()[0]
        a0 = self.allocs
        kind = self._store(s, e, v)
        self._fix_parents()
        self.frees += before + (self.allocs - a0) - self.count()[0]
        self._stat(kind)
        return kind

    def _store(self, s, e, v):
        if self.root is None:                       # wr_store_root
            if v is None:
                return "store_root"
            if s == 0 and e == 0:
                raise NotImplementedError("single entry kept in ma_root")
            ents = []                               # mas_root_expand
            if s:
                ents.append([s - 1, None])
            ents.append([e, v])
            if e != MAX:
                ents.append([MAX, None])
            self.root = self.new(True, ents)
            return "root_expand"
        # mas_wr_walk()
        ms = MS(self.root, 0, MAX, 0, s, e)
        while True:
            r_min, r_max = self._node_walk(ms)
            if self._is_span_wr(ms, r_max, v):
                return self._spanning_store(ms, v)
            if ms.node.leaf:
                break
            ms.min, ms.max, ms.node, ms.offset = r_min, r_max, ms.node.ents[ms.offset][1], 0
        leaf = ms.node
        ents = leaf.ents
        end = len(ents) - 1
        offset = ms.offset
        content = ents[offset][1]
        oe = offset                                  # mas_wr_end_piv()
        while oe < end and e > ents[oe][0]:
            oe += 1
        end_piv = ents[oe][0] if oe < end else ms.max
        index, last = s, e
        if v is None:                                # mas_wr_extend_null()
            if ents[oe][1] is None:
                last = end_piv
            elif last == end_piv and end != oe and ents[oe + 1][1] is None:
                oe += 1
                last = ms.max if oe == end else ents[oe][0]
                end_piv = last
            if content is None:
                index = r_min
            elif index == r_min and offset and ents[offset - 1][1] is None:
                offset -= 1
                r_min = index = ents[offset - 1][0] + 1 if offset else ms.min
                r_max = ents[offset][0]
        if r_min == index and r_max == last:         # wr_exact_fit
            ents[offset][1] = v
            return "exact_fit"
        if index == 0 and last == MAX:               # wr_new_root
            self._new_root(v)
            return "new_root"
        new_end = end + 2 - (oe - offset) - (r_min == index) - (end_piv == last)
        bn = self._leaf_b_node(ents, ms.min, ms.max, offset, oe, index, last, v)
        assert len(bn) - 1 == new_end, (len(bn), new_end)
        if new_end < MIN_SLOTS["leaf"] and leaf.parent is not None:
            self._rebalance(ms, bn)
            return "rebalance"
        if new_end >= LEAF_SLOTS:
            self.split(leaf, bn)
            return "split"
        if new_end == end and oe - offset == 1:      # RCU wr_slot_store, in place
            leaf.ents[:] = bn
            return "slot_store"
        self.replace(leaf, self.new(True, bn))        # RCU wr_node_store
        return "node_store"

    @staticmethod
    def _is_span_wr(ms, r_max, v):
        """mas_is_span_wr()"""
        last = ms.last
        if last < r_max:
            return False
        mx = r_max
        if ms.node.leaf:
            mx = ms.max
            if last < mx:
                return False
        if last == mx and (v is not None or last == MAX):
            return False
        return True

    @staticmethod
    def _leaf_b_node(ents, lo, hi, offset, oe, index, last, v):
        """mas_store_b_node(): the leaf's entries with [index, last] = v"""
        bn = _cp(ents[:offset])
        piv = bn[-1][0] if offset else lo - 1
        if piv + 1 < index:                          # kept head of the first range
            bn.append([index - 1, ents[offset][1]])
        bn.append([last, v])
        if last >= hi:
            return bn
        piv = ents[oe][0]
        if piv > last:                               # kept tail of the last range
            bn.append([piv, ents[oe][1]])
        bn += _cp(ents[oe + 1:])
        return bn

    def _new_root(self, v):
        """mas_new_root(): the old tree goes; one leaf or nothing"""
        self.root = None if v is None else self.new(True, [[MAX, v]])
        if v is None:
            self._stat("tree_emptied")

    # ---------------- spanning store
    def _spanning_store(self, ms, v):
        """mas_wr_spanning_store(); ms is at the node where the span was seen"""
        index, last = ms.index, ms.last
        if index == 0 and last == MAX:
            self._new_root(v)
            return "spanning_new_root"
        height = self.height()
        r = ms.copy()
        r.index = last + 1 if last != MAX else last
        r_content, r_rmin, r_rmax = self._walk_index(r)
        r.last = r.index = last
        l = ms.copy()
        l.index, l.last = index, last
        l_content, l_rmin, l_rmax = self._walk_index(l)
        if v is None:                                # mas_extend_spanning_null()
            l_slot = l.offset
            if l_content is None:
                l.index = l_rmin
            if l.index == l_rmin and l_slot and l.node.ents[l_slot - 1][1] is None:
                l.index = l.node.ents[l_slot - 2][0] + 1 if l_slot > 1 else l.min
                l.offset = l_slot - 1
            if r_content is None:
                if r.last < r_rmax:
                    r.last = r_rmax
                r.offset += 1
            elif r.last == r_rmax and r.last < r.max and r.node.ents[r.offset + 1][1] is None:
                raise AssertionError("unexpected mas_extend_spanning_null branch")
            index = l.index
            last = l.last = r.last
        if index == 0 and r.last == MAX:
            self._new_root(v)
            return "spanning_new_root"
        assert last >= l.max and l.node is not r.node
        bn = self._leaf_b_node(l.node.ents, l.min, l.max, l.offset,
                               len(l.node.ents) - 1, index, last, v)
        if r.max > r.last:
            bn += _cp(r.node.ents[r.offset:])
        l.index = l.last = index
        self._spanning_rebalance(l, r, bn, height + 1)
        return "spanning_store"

    # ---------------- rebalance
    def _rebalance(self, ms, bn):
        """mas_rebalance(): leaf data + right sibling, else left sibling + data"""
        height = self.height()
        leaf = ms.node
        p = leaf.parent
        idx = [c for _, c in p.ents].index(leaf)
        ol, orr = ms.copy(), ms.copy()
        if idx < len(p.ents) - 1:                    # mas_next_sibling()
            sib = p.ents[idx + 1][1]
            lo, hi = self.node_range(sib)
            orr = MS(sib, lo, hi, 0, hi, hi)
            bn = bn + _cp_node(sib)
            self._stat("rebalance_with_next_sibling")
        else:                                        # mas_prev_sibling()
            sib = p.ents[idx - 1][1]
            lo, hi = self.node_range(sib)
            ol = MS(sib, lo, hi, len(sib.ents) - 1, lo, lo)
            bn = _cp_node(sib) + bn
            self._stat("rebalance_with_prev_sibling")
        self._spanning_rebalance(ol, orr, bn, height)

    def _mast_spanning_rebalance(self, ol, orr, bn):
        """mast_spanning_rebalance(): pull in the nearest node at the same depth,
        right first, then left, climbing one level at a time"""
        r_tmp, l_tmp = orr.copy(), ol.copy()
        depth = 0
        while True:
            self._ascend(orr)
            self._ascend(ol)
            depth += 1
            if orr.offset < len(orr.node.ents) - 1:
                orr.offset += 1
                for _ in range(depth):
                    self._descend(orr)
                    orr.offset = 0
                bn.extend(_cp_node(orr.node))        # mast_rebalance_next()
                orr.last = orr.max
                ol.set(l_tmp)
                self._stat("pull_next_depth%d" % depth)
                return True
            if ol.offset != 0:
                ol.offset -= 1
                for _ in range(depth):
                    self._descend(ol)
                    ol.offset = len(ol.node.ents) - 1
                bn[:0] = _cp_node(ol.node)           # mast_rebalance_prev()
                ol.index = ol.min
                orr.set(r_tmp)
                self._stat("pull_prev_depth%d" % depth)
                return True
            if orr.node.parent is None:
                break
        orr.set(r_tmp)
        ol.set(l_tmp)
        return False

    def _calc_split(self, bn, typ):
        """mab_calc_split() (non-bulk) with mab_middle_node()"""
        b_end = len(bn) - 1
        slots = SLOTS[typ]
        split, mid = b_end // 2, 0
        if b_end >= 2 * slots or (bn[split][1] is None and b_end >= 2 * slots - 1):
            split = b_end // 3
            mid = split * 2
        split = self.no_null_split(bn, split, slots, b_end, typ)
        if mid:
            mid = self.no_null_split(bn, mid, slots, b_end, typ)
        return split, mid

    def _mk_part(self, typ, part):
        assert 1 <= len(part) <= SLOTS[typ], (typ, len(part))
        return self.new(typ == "leaf", _cp(part), adopt=False)

    def _spanning_rebalance(self, ol, orr, bn, count):
        """mas_spanning_rebalance(); bn holds leaf-level data, ol/orr the old
        leftmost/rightmost nodes it replaces"""
        if not (ol.min == 0 and orr.max == MAX) and len(bn) <= MIN_SLOTS["leaf"]:
            self._mast_spanning_rebalance(ol, orr, bn)
        l_min = None
        while count > 0:
            count -= 1
            typ = ol.node.typ()
            slots = SLOTS[typ]
            b_end = len(bn) - 1
            # mas_mab_to_node() + mast_cp_to_nodes()
            mid = 0
            if b_end < slots:
                split = b_end
            else:
                split, mid = self._calc_split(bn, typ)
            l_min = ol.min
            l_max = orr.max if split == b_end else bn[split][0]
            left = self._mk_part(typ, bn[:split + 1])
            middle = right = None
            if mid:
                self._stat("three_way_split")
                middle = self._mk_part(typ, bn[split + 1:mid + 1])
                m_max = bn[mid][0]
                split = mid
            r_max = orr.max
            if b_end >= slots:
                right = self._mk_part(typ, bn[split + 1:])
                self._stat("rebal_level_2plus_nodes")
            if l_min == 0 and l_max == MAX:          # goto new_root
                self.root = left
                self._stat("collapse_to_new_root")
                return
            # mast_ascend()
            self._ascend(ol)
            self._ascend(orr)
            orr.offset, orr.index = 0, r_max
            orr.last = max(orr.last, orr.index)
            self._node_walk(orr)
            ol.offset, ol.index = 0, l_min
            self._node_walk(ol)
            # mast_combine_cp_left(), mab_set_b_end() x3, mast_combine_cp_right()
            bn = _cp(ol.node.ents[:ol.offset])
            bn.append([l_max, left])
            if middle is not None:
                bn.append([m_max, middle])
            if right is not None:
                bn.append([r_max, right])
            if bn[-1][0] < orr.max:
                bn += _cp(orr.node.ents[orr.offset + 1:])
            ol.last = ol.max
            ptyp = ol.node.typ()
            if len(bn) > MIN_SLOTS[ptyp]:            # mast_sufficient()
                if len(bn) > SLOTS[ptyp]:            # mast_overflow()
                    continue
                if ol.node is orr.node:
                    break
                continue
            if ol.min == 0 and ol.max == MAX:        # insufficient root is fine
                break
            self._mast_spanning_rebalance(ol, orr, bn)
            if count == 0:
                count += 1
        typ = ol.node.typ()
        top = self._mk_part(typ, bn)
        if l_min == 0 and bn[-1][0] == MAX:
            while ol.node.parent is not None:
                self._ascend(ol)
        assert ol.node is orr.node or ol.node.parent is None, "did not converge"
        if ol.node.parent is None and top.leaf is False and len(top.ents) == 1:
            raise AssertionError("root with a single child")
        self.replace(ol.node, top)

    # ---------------- split (insert path, unchanged rules)
    @staticmethod
    def no_null_split(bn, split, slot_count, b_end, typ):
        if bn[split][1] is None:
            if split < slot_count - 1 and (b_end - split) > MIN_SLOTS[typ]:
                split += 1
            else:
                split -= 1
        return split

    def mk(self, leaf, ents):
        return self.new(leaf, [list(x) for x in ents])

    def split(self, cur, bn):
        leaf = True
        while True:
            slots = LEAF_SLOTS if leaf else AR_SLOTS
            typ = "leaf" if leaf else "arange"
            if cur is None:                          # new root above old root
                root = self.mk(False, bn)
                self.root = root
                root.parent = None
                self._stat("root_split")
                return
            if len(bn) <= slots:                     # mas_split_final_node
                nn = self.mk(leaf, bn)
                self.replace(cur, nn)
                return
            p = cur.parent
            if p is not None:
                ps = [c for _, c in p.ents].index(cur)
                lo, hi = self.node_range(cur)
                space = 2 * slots - 2 - (1 if leaf else 0) - (1 if hi == MAX else 0)
                # push left
                if ps > 0:
                    sib = p.ents[ps - 1][1]
                    end = len(sib.ents) - 1
                    slot_total = (len(bn) - 1) + end
                    if slot_total < space:
                        comb = [list(x) for x in sib.ents] + bn
                        sp = self.no_null_split(comb, slots - 2, slots, slot_total + 1, typ)
                        self._push_finish(p, ps - 1, comb, sp, leaf, sib, cur)
                        self._stat("push_left")
                        return "push_left"
                # push right
                if ps < len(p.ents) - 1:
                    sib = p.ents[ps + 1][1]
                    end = len(sib.ents) - 1
                    slot_total = (len(bn) - 1) + end
                    if slot_total < space:
                        comb = bn + [list(x) for x in sib.ents]
                        sp = slot_total - (slots - 2)
                        sp = self.no_null_split(comb, sp, slots, len(comb), typ)
                        self._push_finish(p, ps, comb, sp, leaf, cur, sib)
                        self._stat("push_right")
                        return "push_right"
            # mab_calc_split (non bulk)
            b_end = len(bn) - 1
            sp = b_end // 2
            if b_end >= 2 * slots or (bn[sp][1] is None and b_end >= 2 * slots - 1):
                raise RuntimeError("3-way split in mas_split not modelled")
            sp = self.no_null_split(bn, sp, slots, b_end, typ)
            l = self.mk(leaf, bn[:sp + 1])
            r = self.mk(leaf, bn[sp + 1:])
            if p is None:                            # splitting the root
                bn = [[l.ents[-1][0], l], [MAX, r]]
                cur = None
                leaf = False
                continue
            pb = []
            for piv, c in p.ents:
                if c is cur:
                    pb.append([l.ents[-1][0], l])
                    pb.append([piv, r])
                else:
                    pb.append([piv, c])
            cur = p
            bn = pb
            leaf = False

    def _push_finish(self, p, first, comb, sp, leaf, old_a, old_b):
        l = self.mk(leaf, comb[:sp + 1])
        r = self.mk(leaf, comb[sp + 1:])
        pb = [list(x) for x in p.ents]
        pb[first] = [l.ents[-1][0], l]
        pb[first + 1] = [pb[first + 1][0], r]
        np_ = self.mk(False, pb)
        self.replace(p, np_)

    # ---------------- validation
    def check(self):
        """Raise AssertionError unless the tree keeps the kernel's invariants:
        pivots strictly increasing inside [min, max] with the last one == max,
        slot limits (leaf 16, arange 10), internal nodes hold only child nodes,
        an internal root has >= 2 children, all leaves at one depth, parent
        pointers right, no two NULLs in a row (across leaves: mt_validate_nulls),
        no leaf but the rightmost ends in NULL, and every non-root node has
        end >= mt_min_slots (mt_validate's 'Invalid size' check, which does not
        exempt the rightmost node).  Returns the leaf entries."""
        if self.root is None:
            return []
        assert self.root.parent is None
        depths = set()
        stack = [(self.root, 0, MAX, 1)]
        while stack:
            n, lo, hi, d = stack.pop()
            cap = LEAF_SLOTS if n.leaf else AR_SLOTS
            assert 1 <= len(n.ents) <= cap, ("size", len(n.ents))
            if n is not self.root:
                assert len(n.ents) - 1 >= MIN_SLOTS[n.typ()], \
                    ("underfull", n.typ(), len(n.ents), hex(lo), hex(hi))
            elif not n.leaf:
                assert len(n.ents) >= 2, "internal root with one child"
            prev = lo - 1
            for piv, v in n.ents:
                assert piv > prev, "pivots not increasing"
                if not n.leaf:
                    assert isinstance(v, Node) and v.parent is n
                    stack.append((v, prev + 1, piv, d + 1))
                else:
                    assert not isinstance(v, Node)
                prev = piv
            assert prev == hi, "last pivot != node max"
            if n.leaf:
                depths.add(d)
                if hi != MAX:
                    assert n.ents[-1][1] is not None, "non-rightmost leaf ends in NULL"
        assert len(depths) == 1, "leaves at different depths"
        ents = self.entries()
        for a, b in zip(ents, ents[1:]):
            assert not (a[2] is None and b[2] is None), "two NULLs in a row"
            assert a[1] + 1 == b[0]
        assert ents[0][0] == 0 and ents[-1][1] == MAX
        return ents


class RefMap:
    """Plain reference: sorted non-NULL [first, last, value] ranges."""

    def __init__(self):
        self.r = []

    def store(self, s, e, v):
        out = []
        for a, b, x in self.r:
            if b < s or a > e:
                out.append([a, b, x])
                continue
            if a < s:
                out.append([a, s - 1, x])
            if b > e:
                out.append([e + 1, b, x])
        if v is not None:
            out.append([s, e, v])
        out.sort()
        self.r = out

    def ranges(self):
        return [tuple(x) for x in self.r]


def verify(t, ref):
    ents = t.check()
    got = [(a, b, v) for a, b, v in ents if v is not None]
    assert got == ref.ranges(), "contents differ from the reference map"


def run(n, order, base=0x10000000, stride=0x10000, length=0x1000, verbose=False):
    t = Tree()
    addrs = [base + i * stride for i in range(n)]
    if order == "desc":
        addrs = addrs[::-1]
    ops = []
    for k, a in enumerate(addrs):
        ops.append(t.insert(a, a + length - 1, "V%d" % k))
    tot, h = t.count()
    if verbose:
        print(order, n, "nodes", tot, "height", h, "shape", t.shape())
    return tot, h, t


# ---------------- page-op test cases ("S p n v" / "E p n")
BASE, PAGE, NPAGES = 0x10000000, 0x1000, 200


def apply_op(t, ref, op):
    f = op.split()
    p, n = int(f[1]), int(f[2])
    s, e = BASE + p * PAGE, BASE + (p + n) * PAGE - 1
    v = int(f[3]) if f[0] == "S" else None
    kind = t.store(s, e, v)
    if ref is not None:
        ref.store(s, e, v)
        verify(t, ref)
    return kind


def gen_case(rng):
    """One op sequence: build 40-150 one-page VMAs, then erase/overwrite."""
    ops, val = [], [0]
    occupied = set()

    def nv():
        val[0] += 1
        return val[0]

    def clip(p, n):
        p = max(0, min(NPAGES - 1, p))
        return p, max(1, min(n, NPAGES - p))

    nvma = rng.randint(40, 150)
    mode = rng.random()
    if mode < 0.2:          # mostly ascending, as a fresh mm would grow
        pages = sorted(rng.sample(range(NPAGES), nvma))
    elif mode < 0.35:       # mostly descending (top-down mmap)
        pages = sorted(rng.sample(range(NPAGES), nvma), reverse=True)
    else:
        pages = rng.sample(range(NPAGES), nvma)
    for p in pages:
        ops.append("S %d 1 %d" % (p, nv()))
        occupied.add(p)
    nmod = rng.randint(4, 10) if rng.random() < 0.35 else rng.randint(6, 30)
    for _ in range(nmod):
        r = rng.random()
        occ = sorted(occupied)
        if r < 0.35 and occ:                         # erase one VMA
            p = rng.choice(occ)
            ops.append("E %d 1" % p)
            occupied.discard(p)
        elif r < 0.55:                               # erase a wide range
            p, n = clip(rng.randrange(NPAGES), rng.randint(8, 120))
            ops.append("E %d %d" % (p, n))
            occupied -= set(range(p, p + n))
        elif r < 0.75:                               # overwrite part of the space
            p, n = clip(rng.randrange(NPAGES), rng.randint(2, 40))
            ops.append("S %d %d %d" % (p, n, nv()))
            occupied |= set(range(p, p + n))
        elif r < 0.765:                              # erase everything
            ops.append("E 0 %d" % NPAGES)
            occupied.clear()
        elif r < 0.85:                               # erase a short range
            p, n = clip(rng.randrange(NPAGES), rng.randint(2, 6))
            ops.append("E %d %d" % (p, n))
            occupied -= set(range(p, p + n))
        else:                                        # map a few more pages
            for _ in range(rng.randint(3, 15)):
                p = rng.randrange(NPAGES)
                ops.append("S %d 1 %d" % (p, nv()))
                occupied.add(p)
    return ops


def run_case(ops):
    """replay ops on an empty tree, checking invariants and contents after
    each; returns the tree and the node count after each op"""
    t, ref = Tree(), RefMap()
    counts = []
    for op in ops:
        apply_op(t, ref, op)
        counts.append(t.count()[0])
    return t, counts


def write_cases(path, ncases=40, seed=20250611, pool=3000):
    """Generate `pool` cases from `seed`, keep a few that together reach every
    code path (greedy), then cases that end at height 3 until about a third
    do, then fill up to `ncases` in generation order."""
    rng = random.Random(seed)
    cands = []
    for k in range(pool):
        ops = gen_case(rng)
        t, counts = run_case(ops)
        keys = set(t.stats) | {"final_height_%d" % t.count()[1]}
        cands.append((k, ops, t, counts, keys))
    chosen, covered = set(), set()
    while len(chosen) < ncases:
        best = max(cands, key=lambda c: (len(c[4] - covered), -c[0]))
        if not best[4] - covered:
            break
        chosen.add(best[0])
        covered |= best[4]
    tall = ncases // 3            # then about a third ending at height >= 3
    for c in cands:
        if sum(1 for x in cands if x[0] in chosen and x[2].height() >= 3) >= tall:
            break
        if len(chosen) < ncases and c[2].height() >= 3:
            chosen.add(c[0])
    for c in cands:
        if len(chosen) >= ncases:
            break
        chosen.add(c[0])
    stats = {}
    with open(path, "w") as f:
        f.write("# maple tree model cases (docs/dev/maple_tree_model.py --cases): "
                "seed %d, pool %d, %d cases; page p = address 0x%x + p*0x%x; "
                "'S p n v' stores value v over pages [p, p+n), 'E p n' stores "
                "NULL there; shape = entries per node, level by level, root "
                "first; nodes = nodes in the tree at the end\n"
                % (seed, pool, ncases, BASE, PAGE))
        for n, (k, ops, t, counts, keys) in enumerate(
                c for c in cands if c[0] in chosen):
            for key, c in t.stats.items():
                stats[key] = stats.get(key, 0) + c
            f.write("# case %d (pool #%d) paths: %s\n" % (
                n + 1, k, " ".join("%s=%d" % kv for kv in sorted(t.stats.items()))))
            f.write("# nodes after each op: %s\n" % " ".join(map(str, counts)))
            f.write("ops: %s\n" % ";".join(ops))
            f.write("shape: %s\n" % json.dumps(t.shape(), separators=(",", ":")))
            f.write("nodes: %d\n" % t.count()[0])
    return stats


def selftest(n=300, seed=1):
    rng = random.Random(seed)
    stats = {}
    for _ in range(n):
        t, ref = Tree(), RefMap()
        for op in gen_case(rng):
            apply_op(t, ref, op)
        for key, c in t.stats.items():
            stats[key] = stats.get(key, 0) + c
    return stats


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--selftest":
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
        for key, c in sorted(selftest(n).items()):
            print("%-28s %d" % (key, c))
        print("invariants and contents held after every op")
        sys.exit(0)
    if len(sys.argv) > 2 and sys.argv[1] == "--cases":
        for key, c in sorted(write_cases(sys.argv[2]).items()):
            print("%-28s %d" % (key, c))
        sys.exit(0)
    for order in ("asc", "desc"):
        for n in (1, 7, 8, 9, 12, 13, 15, 16, 30, 79, 80, 100, 200, 500, 1000):
            tot, h, t = run(n, order)
            sh = t.shape()
            print(f"{order:4} N={n:5} nodes={tot:4} height={h} per-level={[len(x) for x in sh]} "
                  f"leaf-sizes={sh[-1] if len(sh[-1]) <= 20 else str(sh[-1][:10])+'...'}")
