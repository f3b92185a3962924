// The SLAB allocator of seed 003 (mm/slab.c, 2.6 era): kmem_cache with per-CPU array_caches,
// per-node kmem_list3 lists of full, partial and free slabs, struct slab descriptors with
// kmem_bufctl_t free lists, colouring, cache_grow from the buddy allocator, kmalloc size classes
// and the debug aids (poisoning and red zones).
//
// Real memory: slabs are pages from the buddy allocator; objects are byte ranges of emulated RAM
// addressed by physical address; on-slab management (struct slab, then the bufctl array) sits at
// the start of the slab after the colour offset, off-slab management is an object of a kmalloc
// cache; the bufctl array lives in emulated RAM. Every kmem_cache descriptor is an object of the
// "kmem_cache" cache, and each cache's per-CPU and shared arrays and per-node kmem_list3 are
// kmalloc objects, so /proc/slabinfo shows what the caches themselves cost.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/phys_mem.h"
#include "mmcore/gfp.h"
#include "mmcore/index_list.h"
#include "mmcore/kernel_atomic.h"
#include "mmcore/kernel_config.h"
#include "mmcore/locks.h"
#include "mmcore/page_alloc.h"
#include "mmcore/slab_geometry.h"

namespace mmemu {

// A slab object: what kmalloc() and kmem_cache_alloc() return and kfree() and
// kmem_cache_free() take (the kernel's object pointer). mmemu names an object by the physical
// address of its first usable byte (SlabAllocator::kva() gives the direct-map address the kernel
// would print); a null object is a failed allocation. A bare 64-bit value, so passing one costs
// what passing a uint64_t costs; it converts to an address only explicitly (phys()).
struct SlabObj {
    uint64_t value = 0;
    constexpr SlabObj() = default;
    constexpr explicit SlabObj(uint64_t v) : value(v) {}
    constexpr auto operator<=>(const SlabObj&) const = default;
    constexpr bool null() const { return value == 0; }
    constexpr PhysAddr phys() const { return PhysAddr{value}; }
};

// ZERO_SIZE_PTR: what kmalloc(0) returns (include/linux/slab.h).
inline constexpr SlabObj ZERO_SIZE_PTR{16};
// ZERO_OR_NULL_PTR()
constexpr bool zero_or_null(SlabObj o) {
    return o.value <= ZERO_SIZE_PTR.value;
}
// The formatter: the object's physical address in hex.
std::string to_string(SlabObj o);

struct array_cache {
    uint32_t avail = 0;
    uint32_t limit = 0;
    uint32_t batchcount = 0;
    bool touched = false;
    std::vector<uint64_t> entry; // object addresses, LIFO at the top
    SlabObj self;                // where the array lives (a kmalloc object), null = not charged
};

enum class slab_list : uint8_t { none, full, partial, free };

struct slab {
    uint64_t s_mem = 0;     // first object
    uint64_t mgmt = 0;      // struct slab + bufctl[] (on-slab: inside the slab)
    uint32_t colouroff = 0; // colour offset (+ on-slab management) before s_mem
    uint32_t inuse = 0;     // objects handed out
    uint32_t free = 0;      // first free object index (BUFCTL_END: none)
    uint32_t first_pfn = 0; // stored in 32 bits, as the list links; first() gives the Pfn
    uint16_t nodeid = 0;
    slab_list list = slab_list::none;
    uint32_t lru_next = LIST_NIL, lru_prev = LIST_NIL;
    uint32_t cache_id = 0;
    Pfn first() const { return Pfn{first_pfn}; }
};

// The slab descriptors by id (mmemu's own: Linux keeps a slab's descriptor on the slab or in a
// kmalloc object and finds it through struct page). In chunks that never move, so a
// descriptor stays where it is while another CPU adds one; ids are handed out and taken back
// under slab_table_lock.
class SlabTable {
public:
    static constexpr uint32_t CHUNK = 16384;
    static constexpr uint32_t MAX_CHUNKS = 1u << 18; // 2^32 ids
    SlabTable() : chunks_(std::make_unique<std::unique_ptr<slab[]>[]>(MAX_CHUNKS)) {}
    slab& operator[](uint32_t id) { return chunks_[id / CHUNK][id % CHUNK]; }
    const slab& operator[](uint32_t id) const { return chunks_[id / CHUNK][id % CHUNK]; }
    // A free id (an old one first, as a stack), its descriptor reset.
    uint32_t take() {
        const LockGuard<spinlock_t> locked(lock_);
        uint32_t id;
        if (!free_ids_.empty()) {
            id = free_ids_.back();
            free_ids_.pop_back();
        } else {
            id = size_++;
            if (id % CHUNK == 0) chunks_[id / CHUNK] = std::make_unique<slab[]>(CHUNK);
        }
        return id;
    }
    void give_back(uint32_t id) {
        const LockGuard<spinlock_t> locked(lock_);
        free_ids_.push_back(id);
    }

private:
    std::unique_ptr<std::unique_ptr<slab[]>[]> chunks_;
    uint32_t size_ = 0;
    std::vector<uint32_t> free_ids_;
    spinlock_t lock_{LockClass::slab_table_lock};
};

struct kmem_list3 {
    spinlock_t list_lock{LockClass::slab_list_lock};
    index_list slabs_partial, slabs_full, slabs_free;
    uint64_t free_objects = 0;
    uint64_t free_limit = 0;
    uint32_t colour_next = 0;
    bool free_touched = false;
    std::optional<array_cache> shared;
    SlabObj self; // the kmalloc object holding this kmem_list3, null = static (cache_cache)
    uint64_t nr_full = 0, nr_partial = 0, nr_free = 0;
};

struct kmem_cache_stats {
    katomic_u64 num_allocations = 0; // objects handed out (STATS listallocs)
    katomic_u64 grown = 0;           // slabs created
    katomic_u64 reaped = 0;          // slabs destroyed
    katomic_u64 errors = 0;          // debug checks that failed
    katomic_u64 allochit = 0, allocmiss = 0, freehit = 0, freemiss = 0;
};

struct kmem_cache {
    std::string name;
    uint32_t id = 0;
    SlabGeometry g;
    gfp_t gfpflags = 0;       // GFP_DMA for DMA caches, __GFP_RECLAIMABLE for SLAB_RECLAIM_ACCOUNT
    uint32_t object_size = 0; // the size the creator asked for
    std::optional<uint8_t> ctor_fill; // the constructor: fills each object with this byte
    SlabTunables tun{1, 1, 0};
    std::vector<array_cache> array;    // per CPU
    std::vector<kmem_list3> nodelists; // per node
    kmem_cache* slabp_cache = nullptr; // off-slab management comes from this kmalloc cache
    SlabObj self; // the descriptor object in cache_cache (null for cache_cache itself)
    kmem_cache_stats stats;
    bool debug() const { return g.flags & (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER); }
    // obj_size(cachep): the usable bytes of an object (the whole buffer unless debugging adds
    // red zones around it); what ksize() returns and __GFP_ZERO clears.
    uint32_t usable_size() const { return debug() ? g.obj_size : g.buffer_size; }
};

// A failed debug check, as the kernel would print it.
struct SlabReport {
    std::string cache;
    uint64_t object = 0; // kernel virtual address of the object's buffer
    std::string message;
};

class SlabAllocator {
public:
    // The allocator object; nothing exists until kmem_cache_init().
    SlabAllocator(PageAllocator& pa, PhysicalMemory& ram, Arch arch, unsigned nr_cpus,
                  SlabDebug debug, uint64_t page_offset);
    ~SlabAllocator();

    // kmem_cache_init() + kmem_cache_init_late() at boot, once the buddy allocator holds the
    // free memory: cache_cache, the kmalloc caches, then every cache's real per-CPU arrays.
    // `totalram_pages` decides slab_break_gfp_order. Returns "" or why the kernel panics.
    std::string kmem_cache_init(uint64_t totalram_pages);

    // kmem_cache_create(): nullptr and `error` set when the kernel would refuse.
    kmem_cache* kmem_cache_create(const std::string& name, uint64_t size, uint64_t align,
                                  uint32_t flags, std::optional<uint8_t> ctor_fill,
                                  std::string& error, unsigned cpu = 0);
    // kmem_cache_destroy(): false (and a report) if objects are still allocated; the cache is
    // then kept, as the kernel keeps it.
    bool kmem_cache_destroy(kmem_cache* c, unsigned cpu = 0);
    // kmem_cache_shrink(): drain the arrays and free every free slab; true if slabs remain.
    bool kmem_cache_shrink(kmem_cache* c, unsigned cpu = 0);

    // Object allocation: a null object on failure. `caller` identifies the call site for
    // SLAB_STORE_USER's last-user word (the kernel stores the caller's return address; a
    // scenario passes its event number + 1, 0 for the kernel's own allocations).
    SlabObj kmem_cache_alloc(kmem_cache* c, gfp_t gfp, unsigned cpu, uint64_t caller = 0) {
        array_cache& ac = c->array[cpu];
        if (ac.avail && !c->debug()) {
            ac.touched = true;
            c->stats.allochit++;
            c->stats.num_allocations++;
            const uint64_t obj = ac.entry[--ac.avail];
            if (gfp & __GFP_ZERO) ram_.fill(PhysAddr{obj}, 0, c->usable_size());
            return SlabObj{obj};
        }
        return SlabObj{kmem_cache_alloc_slow(c, gfp, cpu, caller)};
    }
    void kmem_cache_free(kmem_cache* c, SlabObj obj, unsigned cpu, uint64_t caller = 0) {
        array_cache& ac = c->array[cpu];
        if (ac.avail < ac.limit && !c->debug() && !remote_node(obj.value, cpu)) {
            c->stats.freehit++;
            ac.entry[ac.avail++] = obj.value;
            return;
        }
        kmem_cache_free_slow(c, obj.value, cpu, caller);
    }
    SlabObj kmalloc(uint64_t size, gfp_t gfp, unsigned cpu, uint64_t caller = 0) {
        kmem_cache* c = kmalloc_slab(size, gfp);
        if (!c) return size == 0 ? ZERO_SIZE_PTR : SlabObj{};
        return kmem_cache_alloc(c, gfp, cpu, caller);
    }
    void kfree(SlabObj obj, unsigned cpu, uint64_t caller = 0);
    // The cache an object belongs to (virt_to_cache), nullptr if it is not a slab object.
    kmem_cache* virt_to_cache(SlabObj obj) const;
    // The kmalloc cache for a size (nullptr for 0 or above KMALLOC_MAX_SIZE).
    kmem_cache* kmalloc_slab(uint64_t size, gfp_t gfp) const;
    // ksize(): usable size of a kmalloc object.
    uint64_t ksize(SlabObj obj) const;

    // Caches in /proc/slabinfo order (newest first; "kmem_cache" last).
    std::vector<const kmem_cache*> caches() const;
    kmem_cache* find_cache(const std::string& name) const;
    const std::vector<SlabReport>& reports() const { return reports_; }
    uint64_t nr_slab_pages(bool reclaimable) const { return nr_slab_pages_[reclaimable]; }
    uint64_t kva(uint64_t phys) const { return phys + page_offset_; } // __va()
    const SlabArch& arch() const { return arch_; }

    // Appends every slab's pages to `owned` and checks each cache's lists and counters; ""
    // when consistent.
    std::string audit(std::vector<OwnedFrames>& owned) const;

private:
    uint64_t kmem_cache_alloc_slow(kmem_cache* c, gfp_t gfp, unsigned cpu, uint64_t caller);
    void kmem_cache_free_slow(kmem_cache* c, uint64_t obj, unsigned cpu, uint64_t caller);
    // virt_to_page(): the page holding an object (objects are addressed physically).
    const page& virt_to_page(uint64_t obj) const { return pa_.mem_map()[phys_pfn(PhysAddr{obj})]; }
    bool remote_node(uint64_t obj, unsigned cpu) const {
        return virt_to_page(obj).nid() != pa_.cpu_to_node[cpu];
    }
    kmem_cache* create_cache(const std::string& name, uint64_t size, uint64_t align, uint32_t flags,
                             std::optional<uint8_t> ctor_fill, bool early, std::string& error,
                             unsigned cpu);
    uint64_t cache_alloc_refill(kmem_cache* c, gfp_t gfp, unsigned cpu);
    uint64_t cache_alloc_node(kmem_cache* c, gfp_t gfp, unsigned nid, unsigned cpu);
    bool cache_grow(kmem_cache* c, gfp_t gfp, int nid, unsigned cpu);
    void cache_flusharray(kmem_cache* c, array_cache& ac, unsigned node, unsigned cpu);
    void free_block(kmem_cache* c, const uint64_t* objs, uint32_t n, unsigned node, unsigned cpu);
    void slab_destroy(kmem_cache* c, uint32_t slab_id, unsigned cpu);
    uint32_t drain_freelist(kmem_cache* c, kmem_list3& l3, uint64_t tofree, unsigned cpu);
    void drain_cpu_caches(kmem_cache* c, unsigned cpu);
    void enable_cpucache(kmem_cache* c, unsigned cpu);
    void alloc_kmemlist(kmem_cache* c, unsigned cpu);
    void free_cache_memory(kmem_cache* c, unsigned cpu);
    void list_move(kmem_list3& l3, uint32_t slab_id, slab_list to, bool tail);
    uint64_t slab_get_obj(kmem_cache* c, slab& s);
    void slab_put_obj(kmem_cache* c, slab& s, uint64_t obj);
    uint32_t obj_to_index(const kmem_cache* c, const slab& s, uint64_t obj) const {
        return uint32_t((obj - s.s_mem) / c->g.buffer_size);
    }
    uint64_t bufctl_addr(const kmem_cache* c, const slab& s, uint32_t i) const {
        (void)c;
        return s.mgmt + arch_.sizeof_slab + uint64_t{4} * i;
    }
    // Debug aids (CONFIG_DEBUG_SLAB)
    void poison_obj(const kmem_cache* c, uint64_t obj, uint8_t val);
    void check_poison_obj(kmem_cache* c, uint64_t obj);
    void debugcheck_after_alloc(kmem_cache* c, uint64_t buf, uint64_t caller);
    void debugcheck_before_free(kmem_cache* c, uint64_t buf, uint64_t caller);
    // dbg_redzone1(), dbg_redzone2(), dbg_userword(): where the debug words of a buffer sit.
    uint64_t redzone1(const kmem_cache* c, uint64_t buf) const { return buf + c->g.obj_offset - 8; }
    uint64_t redzone2(const kmem_cache* c, uint64_t buf) const {
        return buf + c->g.buffer_size - 8 - ((c->g.flags & SLAB_STORE_USER) ? 8 : 0);
    }
    uint64_t userword(const kmem_cache* c, uint64_t buf) const {
        return buf + c->g.buffer_size - arch_.bytes_per_word;
    }
    void store_user(const kmem_cache* c, uint64_t buf, uint64_t caller);
    std::string objinfo(const kmem_cache* c, uint64_t buf) const; // print_objinfo()
    [[noreturn]] void list_corruption(const kmem_cache* c, const slab& s, const std::string& what);
    void report(kmem_cache* c, uint64_t obj, std::string msg);
    uint64_t read_u64(uint64_t pa) const { return ram_.read_u64(PhysAddr{pa}); }
    void write_u64(uint64_t pa, uint64_t v) { ram_.write_u64(PhysAddr{pa}, v); }

    PageAllocator& pa_;
    PhysicalMemory& ram_;
    Arch machine_arch_;
    SlabArch arch_{};
    unsigned nr_cpus_;
    unsigned nr_nodes_ = 0;
    SlabDebug debug_;
    uint64_t page_offset_;
    bool early_ = true;
    std::vector<std::unique_ptr<kmem_cache>> caches_; // by id; destroyed caches leave nullptr
    std::vector<uint32_t> chain_;                     // cache_chain, newest first
    SlabTable slabs_;
    kmem_cache* cache_cache_ = nullptr;
    kmem_cache* kmalloc_caches_[2][32] = {}; // [dma][index]
    uint64_t kmalloc_sizes_[32] = {};
    unsigned nr_kmalloc_ = 0;
    uint8_t size_index_[24] = {}; // (size - 1) / 8 -> kmalloc index, sizes up to 192
    katomic_u64 nr_slab_pages_[2] = {};
    std::vector<SlabReport> reports_;
    uint32_t sizeof_array_header_ = 0;
    uint32_t sizeof_kmem_list3_ = 0;
    uint32_t sizeof_kmem_cache_ = 0;
};

} // namespace mmemu
