#!/usr/bin/env python3
"""
Tiny model of the Linux 6.18-era maple tree *insert-into-a-NULL-gap* path for an
MT_FLAGS_ALLOC_RANGE | MT_FLAGS_USE_RCU tree (mm->mm_mt), used only to derive
node counts for the fact sheet.  It models: root expand, node_store (RCU: node
replaced 1:1), split_store -> mas_split() with mas_push_data() left/right,
mab_calc_split() (non-bulk, no 3-way), mab_no_null_split(), new root.
It does NOT model erase/rebalance/spanning store.
"""
import sys

MAX = (1 << 64) - 1
LEAF_SLOTS, AR_SLOTS = 16, 10
MIN_SLOTS = {"leaf": 6, "arange": 4}


class Node:
    __slots__ = ("leaf", "ents", "parent")

    def __init__(self, leaf, ents):
        self.leaf = leaf
        self.ents = ents          # list of [last_pivot, value]; value None = NULL
        self.parent = None
        if not leaf:
            for _, c in ents:
                c.parent = self

    def typ(self):
        return "leaf" if self.leaf else "arange"


class Tree:
    def __init__(self):
        self.root = None
        self.allocs = 0      # nodes taken from the allocator (incl. replaced ones)
        self.frees = 0

    # ---------------- helpers
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

    def shape(self):
        out, lvl = [], [self.root]
        while lvl:
            out.append([len(n.ents) for n in lvl])
            nxt = []
            for n in lvl:
                if not n.leaf:
                    nxt.extend(c for _, c in n.ents)
            lvl = nxt
        return out

    def new(self, leaf, ents):
        self.allocs += 1
        return Node(leaf, ents)

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
        self.frees += 1

    # ---------------- insert
    def insert(self, s, e, v):
        if self.root is None:                       # mas_root_expand
            ents = []
            if s:
                ents.append([s - 1, None])
            ents.append([e, v])
            if e != MAX:
                ents.append([MAX, None])
            self.root = self.new(True, ents)
            return "root_expand"
        n = self.root
        while not n.leaf:
            for piv, c in n.ents:
                if piv >= s:
                    n = c
                    break
        lo, hi = self.node_range(n)
        for i, (piv, val) in enumerate(n.ents):
            if piv >= s:
                break
        r_min = n.ents[i - 1][0] + 1 if i else lo
        r_max = piv
        assert val is None and e <= r_max, "not an insert into a NULL gap"
        new = n.ents[:i]
        if r_min < s:
            new.append([s - 1, None])
        new.append([e, v])
        if e < r_max:
            new.append([r_max, None])
        new += n.ents[i + 1:]
        if len(new) <= LEAF_SLOTS:
            if len(new) - 1 < MIN_SLOTS["leaf"] and n.parent is not None:
                raise RuntimeError("wr_rebalance on insert (not modelled)")
            nn = self.new(True, new)                 # RCU: wr_node_store
            self.replace(n, nn)
            return "node_store"
        self.split(n, new)
        return "split"

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
                        return "push_right"
            # mab_calc_split (non bulk)
            b_end = len(bn) - 1
            sp = b_end // 2
            if b_end >= 2 * slots or (bn[sp][1] is None and b_end >= 2 * slots - 1):
                raise RuntimeError("3-way split not modelled")
            sp = self.no_null_split(bn, sp, slots, b_end, typ)
            l = self.mk(leaf, bn[:sp + 1])
            r = self.mk(leaf, bn[sp + 1:])
            if p is None:                            # splitting the root
                self.frees += 1
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
            self.frees += 1                          # old cur
            cur = p
            bn = pb
            leaf = False

    def _push_finish(self, p, first, comb, sp, leaf, old_a, old_b):
        l = self.mk(leaf, comb[:sp + 1])
        r = self.mk(leaf, comb[sp + 1:])
        pb = [list(x) for x in p.ents]
        pb[first] = [l.ents[-1][0], l]
        pb[first + 1] = [pb[first + 1][0], r]
        self.frees += 2
        np_ = self.mk(False, pb)
        self.replace(p, np_)


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


if __name__ == "__main__":
    for order in ("asc", "desc"):
        for n in (1, 7, 8, 9, 12, 13, 15, 16, 30, 79, 80, 100, 200, 500, 1000):
            tot, h, t = run(n, order)
            sh = t.shape()
            print(f"{order:4} N={n:5} nodes={tot:4} height={h} per-level={[len(x) for x in sh]} "
                  f"leaf-sizes={sh[-1] if len(sh[-1]) <= 20 else str(sh[-1][:10])+'...'}")
