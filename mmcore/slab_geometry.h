// SLAB cache geometry (mm/slab.c of the 2.6 era described in seed 003: struct slab descriptors,
// kmem_bufctl_t free lists, kmem_list3): object size and alignment, objects per slab, slab order,
// on- or off-slab management, colouring and the per-CPU array tunables. Pure functions, so tests
// can check them against values worked out by hand.
#pragma once

#include <cstdint>
#include <string>

namespace mmemu {

// SLAB flags (include/linux/slab.h, 2.6 values).
inline constexpr uint32_t SLAB_RED_ZONE = 0x00000400;
inline constexpr uint32_t SLAB_POISON = 0x00000800;
inline constexpr uint32_t SLAB_HWCACHE_ALIGN = 0x00002000;
inline constexpr uint32_t SLAB_CACHE_DMA = 0x00004000;
inline constexpr uint32_t SLAB_STORE_USER = 0x00010000;
inline constexpr uint32_t SLAB_RECLAIM_ACCOUNT = 0x00020000;
inline constexpr uint32_t SLAB_PANIC = 0x00040000;
inline constexpr uint32_t CFLGS_OFF_SLAB = 0x80000000u;

// Poison and red-zone values (include/linux/poison.h).
inline constexpr uint8_t POISON_INUSE = 0x5a;
inline constexpr uint8_t POISON_FREE = 0x6b;
inline constexpr uint8_t POISON_END = 0xa5;
inline constexpr uint64_t RED_INACTIVE = 0x09F911029D74E35BULL;
inline constexpr uint64_t RED_ACTIVE = 0xD84156C5635688C0ULL;

inline constexpr uint32_t BUFCTL_END = 0xFFFFFFFFu;
inline constexpr uint32_t SLAB_LIMIT = 0xFFFFFFFCu;
inline constexpr uint32_t KMALLOC_MAX_ORDER = 10;
inline constexpr uint64_t KMALLOC_MAX_SIZE = uint64_t{1} << 22; // 4 MiB

// Properties of the kernel build the geometry depends on.
struct SlabArch {
    unsigned bytes_per_word;       // sizeof(void*): 4 on i386/PAE, 8 on x86_64
    unsigned cache_line_size;      // cache_line_size(): 64 on every modern x86
    unsigned sizeof_slab;          // sizeof(struct slab): 28 on i386, 48 on x86_64
    unsigned slab_break_gfp_order; // 1 with more than 32 MiB of RAM, else 0
    static SlabArch for_bits(bool is_64bit, uint64_t totalram_pages);
};

struct SlabGeometry {
    uint32_t flags = 0;       // after the rules below (CFLGS_OFF_SLAB, debug flags dropped)
    uint32_t align = 0;       // the final alignment
    uint32_t obj_offset = 0;  // where the caller's object starts within a buffer (red zone 1)
    uint32_t obj_size = 0;    // the caller's object size after rounding
    uint32_t buffer_size = 0; // bytes per object slot (/proc/slabinfo objsize)
    uint32_t num = 0;         // objects per slab
    uint32_t gfporder = 0;    // pages per slab = 1 << gfporder
    uint32_t left_over = 0;   // unused bytes per slab (after the management if on-slab)
    uint32_t slab_size = 0;   // bytes of struct slab + bufctl array
    uint32_t colour = 0;      // number of colours
    uint32_t colour_off = 0;  // bytes per colour step
    bool off_slab() const { return flags & CFLGS_OFF_SLAB; }
};

// cache_estimate()
void cache_estimate(const SlabArch& a, unsigned gfporder, uint64_t buffer_size, uint64_t align,
                    bool off_slab, uint64_t& left_over, uint64_t& num);

// kmem_cache_create()'s size, alignment and order decisions (2.6.32 mm/slab.c). `debug` says
// whether the debug flags (SLAB_RED_ZONE, SLAB_POISON, SLAB_STORE_USER) take effect
// (CONFIG_DEBUG_SLAB). Buffer layout with debug: [red zone 1: 8][object: obj_size][red zone 2: 8]
// [last-user word: REDZONE_ALIGN with red zones, else BYTES_PER_WORD], the word at the very end.
// `early` is slab_early_init (the first kmalloc caches are never off-slab). Returns "" or why the
// cache cannot be created.
std::string calculate_geometry(const SlabArch& a, uint64_t size, uint64_t align, uint32_t flags,
                               bool debug, bool early, SlabGeometry& g);

// The special sizing of cache_cache ("kmem_cache"): first order that holds one object, always
// on-slab.
SlabGeometry cache_cache_geometry(const SlabArch& a, uint64_t object_size);

// enable_cpucache(): limit by object size, batchcount = (limit + 1) / 2, shared 8 on SMP for
// objects up to a page; with `debug`, limit at most 32.
struct SlabTunables {
    uint32_t limit, batchcount, shared;
};
SlabTunables enable_cpucache_tunables(uint64_t buffer_size, unsigned nr_cpus, bool debug);

} // namespace mmemu
