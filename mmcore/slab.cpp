// mm/slab.c (2.6 era, the allocator of seed 003); function names as there.
#include "mmcore/slab.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "mmcore/bug.h"

namespace mmemu {

namespace {
// spin_lock(&l3->list_lock). An off-slab cache frees its slab descriptors into its slabp_cache
// (a kmalloc cache, on-slab) while it holds its own list_lock (slab_destroy() under free_block()),
// so the on-slab caches' list_locks nest inside the off-slab ones' (2.6's mm/slab.c gave them a
// lock class of their own for lockdep, on_slab_l3_key, for this reason).
class ListLock {
public:
    ListLock(const kmem_cache* c, kmem_list3& l3) : l_(l3.list_lock) {
        l_.lock(c->g.off_slab() ? 0 : SINGLE_DEPTH_NESTING);
    }
    ~ListLock() { l_.unlock(); }
    ListLock(const ListLock&) = delete;
    ListLock& operator=(const ListLock&) = delete;

private:
    spinlock_t& l_;
};
} // namespace

std::string to_string(SlabObj o) {
    return hex(o.value);
}

namespace {

constexpr uint32_t BATCHREFILL_LIMIT = 16;
constexpr uint32_t BOOT_CPUCACHE_ENTRIES = 1;

std::string kmalloc_name(uint64_t size, bool dma) {
    std::string n;
    if (size >= (uint64_t{1} << 20))
        n = std::to_string(size >> 20) + "M";
    else if (size >= 1024)
        n = std::to_string(size >> 10) + "k";
    else
        n = std::to_string(size);
    return (dma ? "dma-kmalloc-" : "kmalloc-") + n;
}

} // namespace

SlabAllocator::SlabAllocator(PageAllocator& pa, PhysicalMemory& ram, Arch arch, unsigned nr_cpus,
                             SlabDebug debug, uint64_t page_offset)
    : pa_(pa), ram_(ram), machine_arch_(arch), nr_cpus_(nr_cpus), debug_(debug),
      page_offset_(page_offset) {}

SlabAllocator::~SlabAllocator() = default;

// ---------------------------------------------------------------------------------------------
// Bootstrap

std::string SlabAllocator::kmem_cache_init(uint64_t totalram_pages) {
    arch_ = SlabArch::for_bits(machine_arch_ == Arch::x86_64, totalram_pages);
    nr_nodes_ = unsigned(pa_.nodes.size());
    const unsigned ptr = arch_.bytes_per_word;
    // struct array_cache: avail, limit, batchcount, touched, spinlock_t, then entry[] (SMP).
    sizeof_array_header_ = ptr == 8 ? 24 : 20;
    // struct kmem_list3 (three list_heads, counters, colour_next, lock, shared, alien, reap).
    sizeof_kmem_list3_ = ptr == 8 ? 104 : 56;
    // struct kmem_cache: array[NR_CPUS], the scalars, then nodelists[nr_node_ids]; mmemu's
    // kernel is built with NR_CPUS equal to the machine's CPU count.
    sizeof_kmem_cache_ = ptr * nr_cpus_ + (ptr == 8 ? 104 : 72) + nr_nodes_ * ptr;

    // 1) cache_cache: statically allocated, sized for this machine's NR_CPUS and nodes.
    auto cc = std::make_unique<kmem_cache>();
    cc->name = "kmem_cache";
    cc->id = 0;
    cc->g = cache_cache_geometry(arch_, sizeof_kmem_cache_);
    cc->object_size = sizeof_kmem_cache_;
    cc->tun = {BOOT_CPUCACHE_ENTRIES, 1, 1};
    cc->array.assign(nr_cpus_, array_cache{});
    for (auto& ac : cc->array) {
        ac.limit = BOOT_CPUCACHE_ENTRIES;
        ac.batchcount = 1;
        ac.entry.assign(ac.limit, 0);
    }
    cc->nodelists.assign(nr_nodes_, kmem_list3{});
    for (auto& l3 : cc->nodelists) l3.free_limit = 2 * 1 + cc->g.num;
    cache_cache_ = cc.get();
    caches_.push_back(std::move(cc));
    chain_.insert(chain_.begin(), 0);

    // 2) The kmalloc size classes: 32, 64, 96, 128, 192, 256, then powers of two to 4 MiB.
    for (uint64_t s : {32, 64, 96, 128, 192}) kmalloc_sizes_[nr_kmalloc_++] = s;
    for (uint64_t s = 256; s <= KMALLOC_MAX_SIZE; s <<= 1) kmalloc_sizes_[nr_kmalloc_++] = s;
    for (unsigned i = 0; i < 24; i++) {
        const uint64_t size = uint64_t(i) * 8 + 1;
        unsigned k = 0;
        while (kmalloc_sizes_[k] < size) k++;
        size_index_[i] = uint8_t(k);
    }
    // SLAB_PANIC: a cache the kernel cannot create at boot panics it.
    auto create_kmalloc = [&](unsigned idx) -> std::string {
        std::string err;
        for (int dma = 0; dma < 2; dma++) {
            if (kmalloc_caches_[dma][idx]) continue;
            kmem_cache* c =
                create_cache(kmalloc_name(kmalloc_sizes_[idx], dma), kmalloc_sizes_[idx],
                             8, // ARCH_KMALLOC_MINALIGN
                             SLAB_HWCACHE_ALIGN | SLAB_PANIC | (dma ? SLAB_CACHE_DMA : 0),
                             std::nullopt, early_, err, 0);
            if (!c) return "kmem_cache_init: " + err;
            kmalloc_caches_[dma][idx] = c;
        }
        return {};
    };
    // The caches that hold the array_cache and kmem_list3 come first, created with
    // slab_early_init (never off-slab).
    const unsigned idx_ac = 0; // sizeof(struct arraycache_init) fits kmalloc-32
    unsigned idx_l3 = 0;
    while (kmalloc_sizes_[idx_l3] < sizeof_kmem_list3_) idx_l3++;
    for (unsigned idx : {idx_ac, idx_l3}) {
        std::string err;
        if (kmalloc_caches_[0][idx]) continue;
        kmalloc_caches_[0][idx] =
            create_cache(kmalloc_name(kmalloc_sizes_[idx], false), kmalloc_sizes_[idx], 8,
                         SLAB_HWCACHE_ALIGN | SLAB_PANIC, std::nullopt, true, err, 0);
        if (!kmalloc_caches_[0][idx]) return "kmem_cache_init: " + err;
    }
    early_ = false;
    for (unsigned idx = 0; idx < nr_kmalloc_; idx++)
        if (std::string e = create_kmalloc(idx); !e.empty()) return e;

    // 3) Replace the bootstrap kmem_list3s with kmalloc'd ones (init_list), oldest cache first.
    for (auto it = chain_.rbegin(); it != chain_.rend(); ++it) {
        kmem_cache* c = caches_[*it].get();
        for (unsigned n = 0; n < nr_nodes_; n++)
            if (c->nodelists[n].self.null())
                c->nodelists[n].self = kmalloc(sizeof_kmem_list3_, GFP_KERNEL, 0);
    }
    // 4) kmem_cache_init_late(): enable_cpucache() for every cache, in cache_chain order.
    const std::vector<uint32_t> chain = chain_;
    for (uint32_t id : chain) enable_cpucache(caches_[id].get(), 0);
    return {};
}

kmem_cache* SlabAllocator::create_cache(const std::string& name, uint64_t size, uint64_t align,
                                        uint32_t flags, std::optional<uint8_t> ctor_fill,
                                        bool early, std::string& error, unsigned cpu) {
    bool debug = false;
    if (debug_ == SlabDebug::forced) {
        // FORCED_DEBUG (2.6.32 kmem_cache_create()): red zones and the last-user word unless
        // the object is large and the 24 bytes would push it past a power of two (caches with
        // sizes just above a power of two waste the most), and poisoning for every cache.
        if (size < 4096 || std::bit_width(size - 1) == std::bit_width(size - 1 + 8 + 2 * 8))
            flags |= SLAB_RED_ZONE | SLAB_STORE_USER;
        flags |= SLAB_POISON;
        debug = true;
    } else if (debug_ == SlabDebug::flags) {
        debug = flags & (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER);
    }
    auto c = std::make_unique<kmem_cache>();
    error = calculate_geometry(arch_, size, align, flags, debug, early, c->g);
    if (!error.empty()) return nullptr;
    c->name = name;
    c->object_size = uint32_t(size);
    c->ctor_fill = ctor_fill;
    if (flags & SLAB_CACHE_DMA) c->gfpflags |= GFP_DMA;
    if (flags & SLAB_RECLAIM_ACCOUNT) c->gfpflags |= __GFP_RECLAIMABLE;
    if (c->g.off_slab()) {
        c->slabp_cache = kmalloc_slab(c->g.slab_size, 0);
        if (!c->slabp_cache) {
            error = "no kmalloc cache for its off-slab management";
            return nullptr;
        }
    }
    // The descriptor itself is an object of cache_cache.
    c->self = kmem_cache_alloc(cache_cache_, GFP_KERNEL | __GFP_ZERO, cpu);
    if (c->self.null()) {
        error = "out of memory for the kmem_cache descriptor";
        return nullptr;
    }
    c->array.assign(nr_cpus_, array_cache{});
    for (auto& ac : c->array) {
        ac.limit = BOOT_CPUCACHE_ENTRIES;
        ac.batchcount = 1;
        ac.entry.assign(ac.limit, 0);
    }
    c->tun = {BOOT_CPUCACHE_ENTRIES, 1, 0};
    c->nodelists.assign(nr_nodes_, kmem_list3{});
    for (auto& l3 : c->nodelists) l3.free_limit = 2 * 1 + c->g.num;
    c->id = uint32_t(caches_.size());
    kmem_cache* raw = c.get();
    caches_.push_back(std::move(c));
    chain_.insert(chain_.begin(), raw->id); // list_add(&cachep->next, &cache_chain)
    return raw;
}

kmem_cache* SlabAllocator::kmem_cache_create(const std::string& name, uint64_t size, uint64_t align,
                                             uint32_t flags, std::optional<uint8_t> ctor_fill,
                                             std::string& error, unsigned cpu) {
    if (name.empty()) {
        error = "a cache needs a name";
        return nullptr;
    }
    if (find_cache(name)) {
        error = "duplicate cache " + name;
        return nullptr;
    }
    kmem_cache* c = create_cache(name, size, align, flags, ctor_fill, false, error, cpu);
    if (!c) return nullptr;
    // setup_cpu_cache() once the allocator is up: kmem_list3s, then the real arrays.
    for (auto& l3 : c->nodelists) l3.self = kmalloc(sizeof_kmem_list3_, GFP_KERNEL, cpu);
    enable_cpucache(c, cpu);
    return c;
}

// enable_cpucache() / do_tune_cpucache() / alloc_kmemlist()
void SlabAllocator::enable_cpucache(kmem_cache* c, unsigned cpu) {
    const SlabTunables t = enable_cpucache_tunables(c->g.buffer_size, nr_cpus_, c->debug());
    // Allocate every new array first (they may come from this very cache's old arrays).
    std::vector<array_cache> fresh(nr_cpus_);
    for (auto& ac : fresh) {
        ac.limit = t.limit;
        ac.batchcount = t.batchcount;
        ac.entry.assign(t.limit, 0);
        ac.self = kmalloc(sizeof_array_header_ + uint64_t(arch_.bytes_per_word) * t.limit,
                          GFP_KERNEL, cpu);
    }
    std::vector<std::optional<array_cache>> shared(nr_nodes_);
    if (t.shared)
        for (auto& sh : shared) {
            sh.emplace();
            sh->limit = t.shared * t.batchcount;
            sh->batchcount = 0xbaadf00d;
            sh->entry.assign(sh->limit, 0);
            sh->self = kmalloc(sizeof_array_header_ + uint64_t(arch_.bytes_per_word) * sh->limit,
                               GFP_KERNEL, cpu);
        }
    c->tun = t;
    for (unsigned i = 0; i < nr_cpus_; i++) {
        array_cache old = std::move(c->array[i]);
        c->array[i] = std::move(fresh[i]);
        {
            const ListLock locked(c, c->nodelists[pa_.cpu_to_node[i]]);
            free_block(c, old.entry.data(), old.avail, pa_.cpu_to_node[i], cpu);
        }
        if (!old.self.null()) kfree(old.self, cpu);
    }
    for (unsigned n = 0; n < nr_nodes_; n++) {
        kmem_list3& l3 = c->nodelists[n];
        std::optional<array_cache> old = std::move(l3.shared);
        l3.shared = std::move(shared[n]);
        if (old) {
            {
                const ListLock locked(c, l3);
                free_block(c, old->entry.data(), old->avail, n, cpu);
            }
            if (!old->self.null()) kfree(old->self, cpu);
        }
        unsigned cpus_on_node = 0;
        for (unsigned x : pa_.cpu_to_node) cpus_on_node += x == n;
        c->nodelists[n].free_limit = uint64_t(1 + cpus_on_node) * t.batchcount + c->g.num;
    }
}

// ---------------------------------------------------------------------------------------------
// Slabs

void SlabAllocator::list_move(kmem_list3& l3, uint32_t id, slab_list to, bool tail) {
    slab& s = slabs_[id];
    switch (s.list) {
    case slab_list::full:
        l3.slabs_full.del(slabs_, id);
        l3.nr_full--;
        break;
    case slab_list::partial:
        l3.slabs_partial.del(slabs_, id);
        l3.nr_partial--;
        break;
    case slab_list::free:
        l3.slabs_free.del(slabs_, id);
        l3.nr_free--;
        break;
    case slab_list::none: break;
    }
    index_list* l = nullptr;
    switch (to) {
    case slab_list::full:
        l = &l3.slabs_full;
        l3.nr_full++;
        break;
    case slab_list::partial:
        l = &l3.slabs_partial;
        l3.nr_partial++;
        break;
    case slab_list::free:
        l = &l3.slabs_free;
        l3.nr_free++;
        break;
    case slab_list::none: break;
    }
    slabs_[id].list = to;
    if (l) {
        if (tail)
            l->add_tail(slabs_, id);
        else
            l->add_head(slabs_, id);
    }
}

// The free list of a slab is a chain of kmem_bufctl_t indices in emulated RAM, so a write past an
// object can overwrite it. Every step is checked against what the slab can hold, as DEBUG
// SLAB's check_slabp() does before it BUG()s: an index outside the slab, more objects in use
// than the slab has, or a list that ends before (or runs past) the free count stops the run
// rather than hand out a wild address or loop forever.
uint64_t SlabAllocator::slab_get_obj(kmem_cache* c, slab& s) {
    if (s.inuse >= c->g.num || s.free >= c->g.num)
        list_corruption(c, s,
                        s.inuse >= c->g.num
                            ? "an object was taken from a slab whose objects are all in use"
                            : "the free-list head index " + std::to_string(s.free) +
                                  " is outside the slab's " + std::to_string(c->g.num) +
                                  " objects");
    const uint64_t obj = s.s_mem + uint64_t(s.free) * c->g.buffer_size;
    const uint32_t next = ram_.read_u32(PhysAddr{bufctl_addr(c, s, s.free)});
    if (next != BUFCTL_END && next >= c->g.num)
        list_corruption(c, s,
                        "kmem_bufctl_t[" + std::to_string(s.free) + "] = " + hex(next) +
                            " is neither BUFCTL_END nor an object index (below " +
                            std::to_string(c->g.num) + ")");
    s.inuse++;
    s.free = next;
    if ((s.free == BUFCTL_END) != (s.inuse == c->g.num))
        list_corruption(c, s,
                        "the free list ends after " + std::to_string(s.inuse) +
                            " objects in use, the slab holds " + std::to_string(c->g.num));
    return obj;
}

void SlabAllocator::slab_put_obj(kmem_cache* c, slab& s, uint64_t obj) {
    const uint32_t objnr = obj_to_index(c, s, obj);
    if (objnr >= c->g.num || s.inuse == 0)
        list_corruption(c, s, "an object was freed into a slab that does not hold it in use");
    ram_.write_u32(PhysAddr{bufctl_addr(c, s, objnr)}, s.free);
    s.free = objnr;
    s.inuse--;
}

void SlabAllocator::list_corruption(const kmem_cache* c, const slab& s, const std::string& what) {
    // check_slabp(): "slab: Internal list corruption detected in cache '%s'(%d), slabp %p(%d).
    // Hexdump:" and then BUG().
    throw KernelBugOn("slab: Internal list corruption detected in cache '" + c->name + "'(" +
                      std::to_string(c->g.num) + "), slabp " + hex(kva(s.mgmt)) + "(" +
                      std::to_string(s.inuse) + "): " + what +
                      " (a write past an object "
                      "overwrote the slab's management)");
}

// cache_grow(): one more slab for the cache on node `nid` (-1: wherever the page allocator
// finds one). Returns false if no memory.
bool SlabAllocator::cache_grow(kmem_cache* c, gfp_t gfp, int nid, unsigned cpu) {
    // kmem_getpages(): the caller's reclaim and priority flags, the cache's zone and mobility.
    gfp_t page_gfp = (gfp & ~(GFP_ZONEMASK | GFP_MOVABLE_MASK | __GFP_ZERO)) | c->gfpflags;
    if (nid >= 0) page_gfp |= __GFP_THISNODE;
    page* pg = pa_.alloc_pages(page_gfp, c->g.gfporder, nid, cpu);
    if (!pg) return false;
    const Pfn first_pfn = pa_.mem_map().page_to_pfn(pg);
    const unsigned node = pg->nid();
    kmem_list3& l3 = c->nodelists[node];
    // 2.6's cache_grow(): "Take the l3 list lock to change the colour_next on this node" -- two
    // CPUs growing the same cache on one node must not take the same colour.
    uint64_t offset;
    {
        const ListLock locked(c, l3);
        offset = uint64_t(l3.colour_next) * c->g.colour_off;
        if (++l3.colour_next >= c->g.colour) l3.colour_next = 0;
    }

    // alloc_slabmgmt()
    uint64_t mgmt;
    const uint64_t addr = pfn_phys(first_pfn).value;
    if (c->g.off_slab()) {
        mgmt = kmem_cache_alloc(c->slabp_cache, gfp & ~__GFP_ZERO, cpu).value;
        if (!mgmt) {
            pa_.free_pages(pg, c->g.gfporder, cpu);
            return false;
        }
    } else {
        mgmt = addr + offset;
        offset += c->g.slab_size;
    }
    const uint32_t id = slabs_.take();
    slab& s = slabs_[id];
    s = slab{};
    s.s_mem = addr + offset;
    s.mgmt = mgmt;
    s.colouroff = uint32_t(offset);
    s.first_pfn = uint32_t(first_pfn.value);
    s.nodeid = uint16_t(node);
    s.cache_id = c->id;
    // slab_map_pages(): every page of the slab points to its cache and slab.
    const bool reclaimable = c->gfpflags & __GFP_RECLAIMABLE;
    for (uint64_t i = 0; i < (uint64_t{1} << c->g.gfporder); i++) {
        page& p = pa_.mem_map()[first_pfn + i];
        p.set(PG_slab);
        p.mapping = c->id;
        p.index = id;
    }
    nr_slab_pages_[reclaimable] += uint64_t{1} << c->g.gfporder;
    // cache_init_objs()
    for (uint32_t i = 0; i < c->g.num; i++) {
        const uint64_t buf = s.s_mem + uint64_t(i) * c->g.buffer_size;
        if (c->g.flags & SLAB_STORE_USER) store_user(c, buf, 0);
        if (c->g.flags & SLAB_POISON) poison_obj(c, buf, POISON_FREE);
        if (c->g.flags & SLAB_RED_ZONE) {
            write_u64(redzone1(c, buf), RED_INACTIVE);
            write_u64(redzone2(c, buf), RED_INACTIVE);
        }
        if (c->ctor_fill && !(c->g.flags & SLAB_POISON))
            ram_.fill(PhysAddr{buf + c->g.obj_offset}, *c->ctor_fill, c->g.obj_size);
        ram_.write_u32(PhysAddr{bufctl_addr(c, s, i)}, i + 1 == c->g.num ? BUFCTL_END : i + 1);
    }
    // cache_grow_end(): the new slab goes on the node's lists under its lock.
    const ListLock locked(c, l3);
    list_move(l3, id, slab_list::free, true);
    l3.free_objects += c->g.num;
    c->stats.grown++;
    return true;
}

void SlabAllocator::slab_destroy(kmem_cache* c, uint32_t id, unsigned cpu) {
    const slab s = slabs_[id];
    const bool reclaimable = c->gfpflags & __GFP_RECLAIMABLE;
    for (uint64_t i = 0; i < (uint64_t{1} << c->g.gfporder); i++) {
        page& p = pa_.mem_map()[s.first() + i];
        p.clear(PG_slab);
        p.mapping = 0;
        p.index = 0;
    }
    nr_slab_pages_[reclaimable] -= uint64_t{1} << c->g.gfporder;
    slabs_[id] = slab{};
    slabs_.give_back(id);
    c->stats.reaped++;
    pa_.free_pages(&pa_.mem_map()[s.first()], c->g.gfporder, cpu);
    if (c->g.off_slab()) kmem_cache_free(c->slabp_cache, SlabObj{s.mgmt}, cpu);
}

// free_block(): objects back to their slabs; an emptied slab is destroyed once the node holds
// more than free_limit free objects. The caller holds the node's list_lock.
void SlabAllocator::free_block(kmem_cache* c, const uint64_t* objs, uint32_t n, unsigned node,
                               unsigned cpu) {
    kmem_list3& l3 = c->nodelists[node];
    for (uint32_t i = 0; i < n; i++) {
        const uint64_t obj = objs[i];
        const uint32_t id = uint32_t(virt_to_page(obj).index);
        list_move(l3, id, slab_list::none, false);
        slab_put_obj(c, slabs_[id], obj);
        l3.free_objects++;
        if (slabs_[id].inuse == 0) {
            if (l3.free_objects > l3.free_limit) {
                l3.free_objects -= c->g.num;
                slab_destroy(c, id, cpu);
            } else {
                list_move(l3, id, slab_list::free, false);
            }
        } else {
            // Unconditionally move a slab to the end of the partial list on free.
            list_move(l3, id, slab_list::partial, true);
        }
    }
}

void SlabAllocator::cache_flusharray(kmem_cache* c, array_cache& ac, unsigned node, unsigned cpu) {
    uint32_t batchcount = ac.batchcount;
    kmem_list3& l3 = c->nodelists[node];
    const ListLock locked(c, l3);
    bool done = false;
    if (l3.shared) {
        array_cache& shared = *l3.shared;
        const uint32_t max = shared.limit - shared.avail;
        if (max) {
            batchcount = std::min(batchcount, max);
            std::copy_n(ac.entry.begin(), batchcount, shared.entry.begin() + shared.avail);
            shared.avail += batchcount;
            done = true;
        }
    }
    if (!done) free_block(c, ac.entry.data(), batchcount, node, cpu);
    ac.avail -= batchcount;
    std::copy(ac.entry.begin() + batchcount, ac.entry.begin() + batchcount + ac.avail,
              ac.entry.begin());
}

// ---------------------------------------------------------------------------------------------
// Allocation and free, slow paths

uint64_t SlabAllocator::cache_alloc_refill(kmem_cache* c, gfp_t gfp, unsigned cpu) {
    const unsigned node = pa_.cpu_to_node[cpu];
    while (true) {
        array_cache& ac = c->array[cpu];
        int batchcount = int(ac.batchcount); // signed: the loop below runs it down to -1
        // If there was little recent activity on this cache, then perform only a partial
        // refill. Otherwise we could generate refill bouncing.
        if (!ac.touched && batchcount > int(BATCHREFILL_LIMIT)) batchcount = BATCHREFILL_LIMIT;
        kmem_list3& l3 = c->nodelists[node];
        std::optional<ListLock> locked(std::in_place, c, l3);
        bool from_shared = false;
        if (l3.shared && l3.shared->avail) {
            array_cache& sh = *l3.shared;
            const uint32_t nr = std::min({sh.avail, uint32_t(batchcount), ac.limit - ac.avail});
            std::copy_n(sh.entry.begin() + (sh.avail - nr), nr, ac.entry.begin() + ac.avail);
            sh.avail -= nr;
            ac.avail += nr;
            sh.touched = true;
            from_shared = nr > 0;
        }
        if (!from_shared) {
            while (batchcount > 0) {
                uint32_t id;
                if (!l3.slabs_partial.empty()) {
                    id = l3.slabs_partial.head();
                } else {
                    l3.free_touched = true;
                    if (l3.slabs_free.empty()) break; // must_grow
                    id = l3.slabs_free.head();
                }
                slab& s = slabs_[id];
                while (s.inuse < c->g.num && batchcount--)
                    ac.entry[ac.avail++] = slab_get_obj(c, s);
                list_move(l3, id, s.free == BUFCTL_END ? slab_list::full : slab_list::partial,
                          false);
            }
            l3.free_objects -= ac.avail;
        }
        locked.reset(); // cache_grow() allocates pages without it
        if (ac.avail == 0) {
            const bool grown = cache_grow(c, gfp, int(node), cpu);
            // cache_grow can reenable interrupts, then ac could change.
            if (!grown && c->array[cpu].avail == 0) return 0;
            if (c->array[cpu].avail == 0) continue; // objects refilled by interrupt? retry
        }
        array_cache& a = c->array[cpu];
        a.touched = true;
        return a.entry[--a.avail];
    }
}

// ____cache_alloc_node(): one object straight from a node's lists.
uint64_t SlabAllocator::cache_alloc_node(kmem_cache* c, gfp_t gfp, unsigned nid, unsigned cpu) {
    (void)gfp;
    (void)cpu;
    kmem_list3& l3 = c->nodelists[nid];
    const ListLock locked(c, l3);
    uint32_t id;
    if (!l3.slabs_partial.empty()) {
        id = l3.slabs_partial.head();
    } else {
        l3.free_touched = true;
        if (l3.slabs_free.empty()) return 0;
        id = l3.slabs_free.head();
    }
    slab& s = slabs_[id];
    const uint64_t obj = slab_get_obj(c, s);
    l3.free_objects--;
    list_move(l3, id, s.free == BUFCTL_END ? slab_list::full : slab_list::partial, false);
    return obj;
}

uint64_t SlabAllocator::kmem_cache_alloc_slow(kmem_cache* c, gfp_t gfp, unsigned cpu,
                                              uint64_t caller) {
    array_cache& ac = c->array[cpu];
    uint64_t buf;
    if (ac.avail) {
        ac.touched = true;
        c->stats.allochit++;
        buf = ac.entry[--ac.avail];
    } else {
        c->stats.allocmiss++;
        buf = cache_alloc_refill(c, gfp, cpu);
        if (!buf) {
            // fallback_alloc(): the local node is out of memory; take a page anywhere.
            for (unsigned n = 0; n < nr_nodes_ && !buf; n++)
                if (n != pa_.cpu_to_node[cpu]) buf = cache_alloc_node(c, gfp, n, cpu);
            if (!buf) {
                // Grow on whichever node the page allocator picks, then take from that node.
                if (!cache_grow(c, gfp, -1, cpu)) return 0;
                for (unsigned n = 0; n < nr_nodes_ && !buf; n++)
                    buf = cache_alloc_node(c, gfp, n, cpu);
                if (!buf) return 0;
            }
        }
    }
    c->stats.num_allocations++;
    if (c->debug()) debugcheck_after_alloc(c, buf, caller);
    const uint64_t obj = buf + c->g.obj_offset;
    if (gfp & __GFP_ZERO) ram_.fill(PhysAddr{obj}, 0, c->usable_size());
    return obj;
}

void SlabAllocator::kmem_cache_free_slow(kmem_cache* c, uint64_t obj, unsigned cpu,
                                         uint64_t caller) {
    const uint64_t buf = obj - c->g.obj_offset;
    if (c->debug()) debugcheck_before_free(c, buf, caller);
    const unsigned obj_node = virt_to_page(buf).nid();
    if (obj_node != pa_.cpu_to_node[cpu]) {
        // cache_free_alien() without alien arrays: straight back to the object's node.
        c->stats.freemiss++;
        const ListLock locked(c, c->nodelists[obj_node]);
        free_block(c, &buf, 1, obj_node, cpu);
        return;
    }
    array_cache& ac = c->array[cpu];
    if (ac.avail < ac.limit) {
        c->stats.freehit++;
    } else {
        c->stats.freemiss++;
        cache_flusharray(c, ac, obj_node, cpu);
    }
    c->array[cpu].entry[c->array[cpu].avail++] = buf;
}

void SlabAllocator::kfree(SlabObj obj, unsigned cpu, uint64_t caller) {
    if (zero_or_null(obj)) return;
    kmem_cache* c = virt_to_cache(obj);
    if (!c) throw KernelBug("kfree of " + to_string(obj) + " which is not a slab object");
    kmem_cache_free(c, obj, cpu, caller);
}

kmem_cache* SlabAllocator::virt_to_cache(SlabObj obj) const {
    if (!pa_.mem_map().pfn_valid(phys_pfn(obj.phys()))) return nullptr;
    const page& p = virt_to_page(obj.value);
    if (!p.test(PG_slab)) return nullptr;
    return caches_[p.mapping].get();
}

kmem_cache* SlabAllocator::kmalloc_slab(uint64_t size, gfp_t gfp) const {
    if (size == 0 || size > KMALLOC_MAX_SIZE) return nullptr;
    unsigned idx;
    if (size <= 192) {
        idx = size_index_[(size - 1) / 8];
    } else {
        const unsigned bits = unsigned(std::bit_width(size - 1)); // 2^bits >= size
        idx = bits <= 8 ? 5 : 6 + (bits - 9);
    }
    return kmalloc_caches_[(gfp & __GFP_DMA) ? 1 : 0][idx];
}

uint64_t SlabAllocator::ksize(SlabObj obj) const {
    if (zero_or_null(obj)) return 0;
    const kmem_cache* c = virt_to_cache(obj);
    return c ? c->usable_size() : 0;
}

// ---------------------------------------------------------------------------------------------
// Shrinking and destroying

uint32_t SlabAllocator::drain_freelist(kmem_cache* c, kmem_list3& l3, uint64_t tofree,
                                       unsigned cpu) {
    uint32_t nr = 0;
    while (true) {
        uint32_t id;
        {
            const ListLock locked(c, l3);
            if (nr >= tofree || l3.slabs_free.empty()) break;
            id = l3.slabs_free.tail();
            list_move(l3, id, slab_list::none, false);
            l3.free_objects -= c->g.num;
        }
        slab_destroy(c, id, cpu);
        nr++;
    }
    return nr;
}

void SlabAllocator::drain_cpu_caches(kmem_cache* c, unsigned cpu) {
    for (unsigned i = 0; i < nr_cpus_; i++) {
        array_cache& ac = c->array[i];
        // Objects are freed into the node of the CPU that held them.
        const ListLock locked(c, c->nodelists[pa_.cpu_to_node[i]]);
        free_block(c, ac.entry.data(), ac.avail, pa_.cpu_to_node[i], cpu);
        ac.avail = 0;
    }
    for (unsigned n = 0; n < nr_nodes_; n++) {
        auto& sh = c->nodelists[n].shared;
        if (!sh) continue;
        const ListLock locked(c, c->nodelists[n]);
        free_block(c, sh->entry.data(), sh->avail, n, cpu);
        sh->avail = 0;
    }
}

bool SlabAllocator::kmem_cache_shrink(kmem_cache* c, unsigned cpu) {
    drain_cpu_caches(c, cpu);
    bool remaining = false;
    for (auto& l3 : c->nodelists) {
        drain_freelist(c, l3, l3.free_objects, cpu);
        remaining |= l3.nr_full || l3.nr_partial;
    }
    return remaining;
}

void SlabAllocator::free_cache_memory(kmem_cache* c, unsigned cpu) {
    for (auto& ac : c->array)
        if (!ac.self.null()) kfree(ac.self, cpu);
    for (auto& l3 : c->nodelists) {
        if (l3.shared && !l3.shared->self.null()) kfree(l3.shared->self, cpu);
        if (!l3.self.null()) kfree(l3.self, cpu);
    }
    kmem_cache_free(cache_cache_, c->self, cpu);
}

bool SlabAllocator::kmem_cache_destroy(kmem_cache* c, unsigned cpu) {
    if (kmem_cache_shrink(c, cpu)) {
        report(c, 0,
               "slab error in kmem_cache_destroy(): cache `" + c->name +
                   "': Can't free all objects");
        return false;
    }
    free_cache_memory(c, cpu);
    chain_.erase(std::find(chain_.begin(), chain_.end(), c->id));
    caches_[c->id].reset();
    return true;
}

// ---------------------------------------------------------------------------------------------
// Debug aids

void SlabAllocator::report(kmem_cache* c, uint64_t obj, std::string msg) {
    c->stats.errors++;
    reports_.push_back({c->name, obj ? kva(obj) : 0, std::move(msg)});
}

void SlabAllocator::poison_obj(const kmem_cache* c, uint64_t buf, uint8_t val) {
    const uint64_t obj = buf + c->g.obj_offset;
    ram_.fill(PhysAddr{obj}, val, c->g.obj_size);
    ram_.fill(PhysAddr{obj + c->g.obj_size - 1}, POISON_END, 1);
}

// cache_alloc_debugcheck_after() and cache_free_debugcheck() write the caller into the last-user
// word (the kernel: __builtin_return_address(0) of the allocation or free; mmemu: the scenario
// event + 1, 0 for the kernel's own allocations). cache_init_objs() clears it.
void SlabAllocator::store_user(const kmem_cache* c, uint64_t buf, uint64_t caller) {
    if (arch_.bytes_per_word == 8)
        write_u64(userword(c, buf), caller);
    else
        ram_.write_u32(PhysAddr{userword(c, buf)}, uint32_t(caller));
}

// print_objinfo(): the red zones and the last user, when the cache keeps them.
std::string SlabAllocator::objinfo(const kmem_cache* c, uint64_t buf) const {
    std::string s;
    if (c->g.flags & SLAB_RED_ZONE)
        s += "; Redzone: " + hex(read_u64(redzone1(c, buf))) + "/" +
             hex(read_u64(redzone2(c, buf))) + ".";
    if (c->g.flags & SLAB_STORE_USER) {
        const uint64_t user = arch_.bytes_per_word == 8 ? read_u64(userword(c, buf))
                                                        : ram_.read_u32(PhysAddr{userword(c, buf)});
        s += "; Last user: " + (user ? "event " + std::to_string(user - 1) : std::string("none"));
    }
    return s;
}

void SlabAllocator::check_poison_obj(kmem_cache* c, uint64_t buf) {
    const uint64_t obj = buf + c->g.obj_offset;
    const uint8_t* p = ram_.ptr(PhysAddr{obj});
    for (uint32_t i = 0; i < c->g.obj_size; i++) {
        const uint8_t want = i + 1 == c->g.obj_size ? POISON_END : POISON_FREE;
        if (p[i] != want) {
            char detail[96];
            std::snprintf(detail, sizeof detail,
                          " (first bad byte at offset %u: 0x%02x, expected 0x%02x)", i, p[i], want);
            report(c, obj,
                   "Slab corruption: " + c->name + " start=" + hex(kva(obj)) +
                       ", len=" + std::to_string(c->g.obj_size) + detail + objinfo(c, buf));
            return;
        }
    }
}

void SlabAllocator::debugcheck_after_alloc(kmem_cache* c, uint64_t buf, uint64_t caller) {
    if (c->g.flags & SLAB_POISON) {
        check_poison_obj(c, buf);
        poison_obj(c, buf, POISON_INUSE);
    }
    if (c->g.flags & SLAB_STORE_USER) store_user(c, buf, caller);
    if (c->g.flags & SLAB_RED_ZONE) {
        const uint64_t rz1 = redzone1(c, buf), rz2 = redzone2(c, buf);
        const uint64_t v1 = read_u64(rz1), v2 = read_u64(rz2);
        if (v1 != RED_INACTIVE || v2 != RED_INACTIVE)
            report(c, buf,
                   "slab error in cache_alloc_debugcheck_after(): cache `" + c->name +
                       "': double free, or memory outside object was overwritten; " +
                       hex(kva(buf)) + ": redzone 1:" + hex(v1) + ", redzone 2:" + hex(v2));
        write_u64(rz1, RED_ACTIVE);
        write_u64(rz2, RED_ACTIVE);
    }
    if (c->ctor_fill && (c->g.flags & SLAB_POISON))
        ram_.fill(PhysAddr{buf + c->g.obj_offset}, *c->ctor_fill, c->g.obj_size);
}

void SlabAllocator::debugcheck_before_free(kmem_cache* c, uint64_t buf, uint64_t caller) {
    if (c->g.flags & SLAB_RED_ZONE) {
        const uint64_t rz1 = redzone1(c, buf), rz2 = redzone2(c, buf);
        const uint64_t v1 = read_u64(rz1), v2 = read_u64(rz2);
        if (!(v1 == RED_ACTIVE && v2 == RED_ACTIVE)) {
            const char* what = (v1 == RED_INACTIVE && v2 == RED_INACTIVE)
                                   ? "double free detected"
                                   : "memory outside object was overwritten";
            report(c, buf,
                   "slab error in verify_redzone_free(): cache `" + c->name + "': " + what + "; " +
                       hex(kva(buf)) + ": redzone 1:" + hex(v1) + ", redzone 2:" + hex(v2) + ".");
        }
        write_u64(rz1, RED_INACTIVE);
        write_u64(rz2, RED_INACTIVE);
    }
    if (c->g.flags & SLAB_STORE_USER) store_user(c, buf, caller);
    if (c->g.flags & SLAB_POISON) poison_obj(c, buf, POISON_FREE);
}

// ---------------------------------------------------------------------------------------------
// Inspection

std::vector<const kmem_cache*> SlabAllocator::caches() const {
    std::vector<const kmem_cache*> out;
    for (uint32_t id : chain_) out.push_back(caches_[id].get());
    return out;
}

kmem_cache* SlabAllocator::find_cache(const std::string& name) const {
    for (uint32_t id : chain_)
        if (caches_[id]->name == name) return caches_[id].get();
    return nullptr;
}

std::string SlabAllocator::audit(std::vector<OwnedFrames>& owned) const {
    for (uint32_t id : chain_) {
        const kmem_cache* c = caches_[id].get();
        for (unsigned n = 0; n < nr_nodes_; n++) {
            const kmem_list3& l3 = c->nodelists[n];
            uint64_t free_objects = 0;
            std::string err;
            auto walk = [&](const index_list& l, slab_list kind, uint64_t expect) {
                uint64_t count = 0;
                l.for_each(slabs_, [&](uint32_t sid) {
                    const slab& s = slabs_[sid];
                    count++;
                    const bool ok = s.list == kind && s.cache_id == c->id && s.nodeid == n &&
                                    (kind == slab_list::full   ? s.inuse == c->g.num
                                     : kind == slab_list::free ? s.inuse == 0
                                                               : s.inuse > 0 && s.inuse < c->g.num);
                    if (!ok)
                        err = "cache " + c->name + ": slab " + std::to_string(sid) +
                              " on the wrong list";
                    free_objects += c->g.num - s.inuse;
                    for (uint64_t i = 0; i < (uint64_t{1} << c->g.gfporder); i++) {
                        const Pfn pfn = s.first() + i;
                        const page& p = pa_.mem_map()[pfn];
                        if (!p.test(PG_slab) || p.mapping != c->id || p.index != sid)
                            err = "cache " + c->name + ": page " + to_string(pfn) +
                                  " does not point back to its slab";
                    }
                    owned.push_back(
                        {s.first(), s.first() + (uint64_t{1} << c->g.gfporder), "slab", c->id});
                });
                if (count != expect)
                    err = "cache " + c->name + ": list length " + std::to_string(count) +
                          " differs from its counter " + std::to_string(expect);
            };
            walk(l3.slabs_full, slab_list::full, l3.nr_full);
            walk(l3.slabs_partial, slab_list::partial, l3.nr_partial);
            walk(l3.slabs_free, slab_list::free, l3.nr_free);
            if (!err.empty()) return err;
            if (free_objects != l3.free_objects)
                return "cache " + c->name + ": free_objects " + std::to_string(l3.free_objects) +
                       " but its slabs have " + std::to_string(free_objects) + " free";
        }
    }
    return {};
}

} // namespace mmemu
