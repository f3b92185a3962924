// Where a memory policy sends an allocation, and set_mempolicy(2) (mm/mempolicy.c, Linux 6.18;
// facts with their sources: docs/dev/mempolicy-facts.md).
//
// - A user page of a VMA (vma_alloc_folio -> get_vma_policy): the VMA's policy, else the task's;
//   an interleaving policy takes the page's interleave index from the VMA: vm_pgoff + the page's
//   offset in it (for private anonymous memory, the address >> PAGE_SHIFT).
// - Any other allocation in process context (alloc_pages(): page tables, a shmem page): the
//   task's policy, an interleaving one going round its nodes from il_prev (interleave_nodes).
// - A task without a policy allocates on its CPU's node (preferred_node_policy / default_policy:
//   MPOL_LOCAL), with no nodemask.
// - alloc_pages_mpol() -> policy_nodemask(): PREFERRED allocates from its node's zonelist;
//   BIND keeps the local node's zonelist and limits it to its nodes (when the allocation may
//   use policy_zone or above: apply_policy_zone()), so the nearest allowed node comes first;
//   PREFERRED_MANY tries its nodes first without reclaim, then any node
//   (alloc_pages_preferred_many); INTERLEAVE takes node (ilx mod n) of its nodes;
//   WEIGHTED_INTERLEAVE the same with each node's weight (1 for every node: this machine has no
//   firmware bandwidth data and no weights are written). An interleaved page that lands on the
//   node chosen counts as an interleave hit (NUMA_INTERLEAVE_HIT) there.
//
// What mmemu leaves out: mbind(2) (VMA policies: the scenario cannot set one yet), cpusets,
// set_mempolicy_home_node, and the slab allocator's object placement under a policy (SLAB's
// alternate_node_alloc): kernel objects come from the local node.
#include "mmcore/address_spaces.h"

namespace mmemu {

namespace {

// The n-th (0-based) set bit of mask, counting round from the lowest.
unsigned nth_node(uint64_t mask, uint64_t n) {
    for (unsigned nid = 0; nid < 64; nid++)
        if (mask >> nid & 1) {
            if (n == 0) return nid;
            n--;
        }
    return 0;
}

// next_node_in(): the first node of mask after `prev`, wrapping round.
unsigned next_node_in(unsigned prev, uint64_t mask) {
    for (unsigned i = 1; i <= 64; i++) {
        const unsigned nid = (prev + i) % 64;
        if (mask >> nid & 1) return nid;
    }
    return 0;
}

} // namespace

uint64_t AddressSpaces::nodes_with_memory() const {
    uint64_t m = 0;
    for (const pglist_data& n : pa_.nodes)
        for (const zone& z : n.node_zones)
            if (z.managed()) m |= uint64_t{1} << n.node_id;
    return m;
}

page* AddressSpaces::alloc_pages_mpol(gfp_t gfp, unsigned order, const mempolicy& pol, uint64_t ilx,
                                      unsigned cpu) {
    int nid = int(pa_.cpu_to_node[cpu]);
    uint64_t nodemask = NODEMASK_ALL;
    const MpolMode mode = pol.set ? pol.mode : MpolMode::LOCAL;
    task_struct* t = mm_percall::task ? mm_percall::task : current_[cpu];
    switch (mode) {
    case MpolMode::PREFERRED: nid = int(nth_node(pol.nodes, 0)); break;
    case MpolMode::PREFERRED_MANY: nodemask = pol.nodes; break;
    case MpolMode::BIND: {
        // apply_policy_zone(): policy_zone is the highest zone below ZONE_MOVABLE with memory
        // (ZONE_MOVABLE when the policy's nodes have movable memory only).
        unsigned policy_zone = 0, dynamic = 0;
        bool normal_memory = false;
        for (const pglist_data& n : pa_.nodes)
            for (unsigned z = 0; z < MAX_NR_ZONES; z++) {
                const zone& zz = n.node_zones[z];
                if (!zz.managed() || zz.type == zone_type::MOVABLE) continue;
                policy_zone = std::max(policy_zone, z);
                if (pol.nodes >> n.node_id & 1) normal_memory = true;
            }
        dynamic = normal_memory ? policy_zone : pa_.layout.index_of(zone_type::MOVABLE);
        if (pa_.gfp_zone_index(gfp) >= dynamic) nodemask = pol.nodes;
        break;
    }
    case MpolMode::INTERLEAVE:
    case MpolMode::WEIGHTED_INTERLEAVE: {
        // interleave_nid() / weighted_interleave_nid() with every weight 1; without an index,
        // interleave_nodes(): round the nodes from the task's il_prev.
        const uint64_t n = uint64_t(__builtin_popcountll(pol.nodes));
        if (ilx != NO_INTERLEAVE_INDEX) {
            nid = int(nth_node(pol.nodes, ilx % n));
        } else if (t) {
            t->il_prev = next_node_in(t->il_prev, pol.nodes);
            nid = int(t->il_prev);
        } else {
            nid = int(nth_node(pol.nodes, 0));
        }
        break;
    }
    case MpolMode::DEFAULT:
    case MpolMode::LOCAL: break;
    }
    if (mode == MpolMode::PREFERRED_MANY) {
        // alloc_pages_preferred_many(): the policy's nodes without direct reclaim, then any.
        const gfp_t first = (gfp | __GFP_NOWARN) & ~__GFP_DIRECT_RECLAIM;
        if (page* p = pa_.alloc_pages(first, order, nid, cpu, nodemask)) return p;
        return pa_.alloc_pages(gfp, order, nid, cpu);
    }
    page* p = pa_.alloc_pages(gfp, order, nid, cpu, nodemask);
    if (p && (mode == MpolMode::INTERLEAVE || mode == MpolMode::WEIGHTED_INTERLEAVE) &&
        p->nid() == unsigned(nid))
        pa_.count_interleave_hit(unsigned(nid));
    return p;
}

page* AddressSpaces::vma_alloc_page(gfp_t gfp, vm_area_struct* vma, uint64_t addr, unsigned cpu) {
    const task_struct* t = mm_percall::task ? mm_percall::task : current_[cpu];
    static const mempolicy none;
    const mempolicy& pol = t ? t->mempolicy : none;
    uint64_t ilx = 0;
    if (pol.set && (pol.mode == MpolMode::INTERLEAVE || pol.mode == MpolMode::WEIGHTED_INTERLEAVE))
        ilx = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
    return alloc_pages_mpol(gfp, 0, pol, ilx, cpu);
}

page* AddressSpaces::alloc_pages_task(gfp_t gfp, unsigned order, unsigned cpu) {
    const task_struct* t = mm_percall::task        ? mm_percall::task
                           : cpu < current_.size() ? current_[cpu]
                                                   : nullptr;
    if (!t || !t->mempolicy.set || (gfp & __GFP_THISNODE))
        return pa_.alloc_pages(gfp, order, -1, cpu);
    const mempolicy pol = t->mempolicy; // a copy: alloc_pages_mpol() may change the task
    return alloc_pages_mpol(gfp, order, pol, NO_INTERLEAVE_INDEX, cpu);
}

// do_set_mempolicy(): sanitize_mpol_flags(), then mpol_new() and mpol_set_nodemask(): the
// nodes are those given that have memory (with MPOL_F_RELATIVE_NODES, folded onto them); a
// PREFERRED policy keeps only the first; MPOL_DEFAULT removes the task's policy.
int AddressSpaces::set_mempolicy(task_struct* t, MpolMode mode, unsigned flags, uint64_t nodes) {
    if ((flags & MPOL_F_STATIC_NODES) && (flags & MPOL_F_RELATIVE_NODES)) return -EINVAL;
    if ((flags & MPOL_F_NUMA_BALANCING) && mode != MpolMode::BIND &&
        mode != MpolMode::PREFERRED_MANY)
        return -EINVAL;
    if (mode == MpolMode::DEFAULT) {
        if (nodes) return -EINVAL;
        t->mempolicy = mempolicy{};
        return 0;
    }
    if (mode == MpolMode::PREFERRED && !nodes) {
        if (flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES)) return -EINVAL;
        mode = MpolMode::LOCAL;
    } else if (mode == MpolMode::LOCAL) {
        if (nodes || (flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES))) return -EINVAL;
    } else if (!nodes) {
        return -EINVAL;
    }
    mempolicy p;
    p.set = true;
    p.mode = mode;
    p.flags = flags;
    if (mode != MpolMode::LOCAL) {
        const uint64_t allowed = nodes_with_memory();
        uint64_t eff = nodes & allowed;
        if (flags & MPOL_F_RELATIVE_NODES) {
            // mpol_relative_nodemask(): nodes_fold() by the allowed nodes' count, then
            // nodes_onto() them: relative node i is the i-th allowed node.
            const unsigned w = unsigned(__builtin_popcountll(allowed));
            eff = 0;
            for (unsigned i = 0; i < 64; i++)
                if (nodes >> i & 1) eff |= uint64_t{1} << nth_node(allowed, i % w);
        }
        if (!eff) return -EINVAL; // mpol_new_nodemask() / mpol_new_preferred()
        p.nodes = mode == MpolMode::PREFERRED ? uint64_t{1} << nth_node(eff, 0) : eff;
    }
    t->mempolicy = p;
    // An interleaving policy starts its rounds again (il_prev = MAX_NUMNODES - 1).
    if (mode == MpolMode::INTERLEAVE || mode == MpolMode::WEIGHTED_INTERLEAVE) t->il_prev = 63;
    return 0;
}

} // namespace mmemu
