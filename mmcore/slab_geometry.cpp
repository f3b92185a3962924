#include "mmcore/slab_geometry.h"

#include "emulator/addr.h"

namespace mmemu {

namespace {

uint64_t align_up(uint64_t x, uint64_t a) {
    return (x + a - 1) & ~(a - 1);
}

constexpr uint64_t KMEM_BUFCTL_SIZE = 4; // sizeof(kmem_bufctl_t)
constexpr uint64_t REDZONE_ALIGN = 8;    // max(BYTES_PER_WORD, __alignof__(unsigned long long))

// slab_mgmt_size()
uint64_t slab_mgmt_size(const SlabArch& a, uint64_t nr_objs, uint64_t align) {
    return align_up(a.sizeof_slab + nr_objs * KMEM_BUFCTL_SIZE, align);
}

} // namespace

SlabArch SlabArch::for_bits(bool is_64bit, uint64_t totalram_pages) {
    SlabArch a;
    a.bytes_per_word = is_64bit ? 8 : 4;
    a.cache_line_size = 64;
    a.sizeof_slab = is_64bit ? 48 : 28;
    // kmem_cache_init(): BREAK_GFP_ORDER_HI when there is more than 32 MiB of RAM.
    a.slab_break_gfp_order = totalram_pages > ((uint64_t{32} << 20) >> PAGE_SHIFT) ? 1 : 0;
    return a;
}

void cache_estimate(const SlabArch& a, unsigned gfporder, uint64_t buffer_size, uint64_t align,
                    bool off_slab, uint64_t& left_over, uint64_t& num) {
    const uint64_t slab_size = PAGE_SIZE << gfporder;
    uint64_t nr_objs, mgmt_size;
    if (off_slab) {
        mgmt_size = 0;
        nr_objs = slab_size / buffer_size;
    } else {
        // The slab management structure and its bufctl array share the slab with the objects.
        nr_objs = (slab_size - a.sizeof_slab) / (buffer_size + KMEM_BUFCTL_SIZE);
        if (slab_mgmt_size(a, nr_objs, align) + nr_objs * buffer_size > slab_size) nr_objs--;
        mgmt_size = slab_mgmt_size(a, nr_objs, align);
    }
    if (nr_objs > SLAB_LIMIT) nr_objs = SLAB_LIMIT;
    num = nr_objs;
    left_over = slab_size - nr_objs * buffer_size - mgmt_size;
}

// calculate_slab_order()
static uint64_t calculate_slab_order(const SlabArch& a, SlabGeometry& g, uint64_t size,
                                     uint64_t align, uint32_t flags) {
    uint64_t left_over = 0;
    for (unsigned gfporder = 0; gfporder <= KMALLOC_MAX_ORDER; gfporder++) {
        uint64_t remainder, num;
        cache_estimate(a, gfporder, size, align, flags & CFLGS_OFF_SLAB, remainder, num);
        if (!num) continue;
        if (flags & CFLGS_OFF_SLAB) {
            // Off-slab bufctls must fit in one object of the slab's management cache.
            const uint64_t offslab_limit = (size - a.sizeof_slab) / KMEM_BUFCTL_SIZE;
            if (num > offslab_limit) break;
        }
        g.num = uint32_t(num);
        g.gfporder = gfporder;
        left_over = remainder;
        // A VFS-reclaimable slab tends to have most allocations as GFP_NOFS: keep it small.
        if (flags & SLAB_RECLAIM_ACCOUNT) break;
        // Large numbers of objects are good, but very large slabs are bad.
        if (gfporder >= a.slab_break_gfp_order) break;
        // Acceptable internal fragmentation?
        if (left_over * 8 <= (PAGE_SIZE << gfporder)) break;
    }
    return left_over;
}

std::string calculate_geometry(const SlabArch& a, uint64_t size, uint64_t align, uint32_t flags,
                               bool debug, bool early, SlabGeometry& g) {
    g = SlabGeometry{};
    if (size < a.bytes_per_word || size > KMALLOC_MAX_SIZE)
        return "object size must be between " + std::to_string(a.bytes_per_word) + " and " +
               std::to_string(KMALLOC_MAX_SIZE) + " bytes";
    if (align & (align - 1)) return "alignment must be 0 or a power of two";
    if (!debug) flags &= ~(SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER);
    // Round the size up to a word, so the objects are word aligned.
    size = align_up(size, a.bytes_per_word);
    uint64_t ralign;
    if (flags & SLAB_HWCACHE_ALIGN) {
        // Default alignment: as specified by the arch code, but smaller if the object is small.
        ralign = a.cache_line_size;
        while (size <= ralign / 2) ralign /= 2;
    } else {
        ralign = a.bytes_per_word;
    }
    // Redzoning and user store require word alignment or possibly larger (mm/slab.c 2.6.32
    // kmem_cache_create(); the same through 2.6.34 and again from 2.6.39).
    if (flags & SLAB_STORE_USER) ralign = a.bytes_per_word;
    if (flags & SLAB_RED_ZONE) {
        ralign = REDZONE_ALIGN;
        // The second red zone must be aligned: round the object up.
        size = align_up(size, REDZONE_ALIGN);
    }
    // The caller's alignment, if larger.
    if (ralign < align) ralign = align;
    // "disable debug if necessary": an alignment above __alignof__(unsigned long long) (8)
    // drops the red zones and the last-user word (a 64-byte cache aligned to 64 stays 64 bytes).
    if (ralign > REDZONE_ALIGN) flags &= ~(SLAB_RED_ZONE | SLAB_STORE_USER);
    align = ralign;
    g.obj_size = uint32_t(size);
    if (flags & SLAB_RED_ZONE) {
        // Red zone 1 (8 bytes) before the object, red zone 2 (8 bytes) after it.
        g.obj_offset += 8;
        size += 2 * 8;
    }
    if (flags & SLAB_STORE_USER) {
        // The last-user word after the object; with red zones, REDZONE_ALIGN bytes so the
        // second red zone stays 64-bit aligned.
        size += (flags & SLAB_RED_ZONE) ? REDZONE_ALIGN : a.bytes_per_word;
    }
    // Determine if the slab management is 'on' or 'off' slab (decided before the alignment).
    if (size >= (PAGE_SIZE >> 3) && !early) flags |= CFLGS_OFF_SLAB;
    size = align_up(size, align);
    uint64_t left_over = calculate_slab_order(a, g, size, align, flags);
    if (!g.num) return "couldn't create cache: no slab order holds an object";
    uint64_t slab_size = align_up(g.num * KMEM_BUFCTL_SIZE + a.sizeof_slab, align);
    // If the slab has been placed off-slab and there is enough space left over, move it on.
    if ((flags & CFLGS_OFF_SLAB) && left_over >= slab_size) {
        flags &= ~CFLGS_OFF_SLAB;
        left_over -= slab_size;
    }
    if (flags & CFLGS_OFF_SLAB) slab_size = g.num * KMEM_BUFCTL_SIZE + a.sizeof_slab;
    g.colour_off = a.cache_line_size;
    if (g.colour_off < align) g.colour_off = uint32_t(align);
    g.colour = uint32_t(left_over / g.colour_off);
    g.slab_size = uint32_t(slab_size);
    g.flags = flags;
    g.align = uint32_t(align);
    g.buffer_size = uint32_t(size);
    g.left_over = uint32_t(left_over);
    return {};
}

SlabGeometry cache_cache_geometry(const SlabArch& a, uint64_t object_size) {
    SlabGeometry g;
    g.align = a.cache_line_size;
    g.colour_off = a.cache_line_size;
    g.buffer_size = uint32_t(align_up(object_size, a.cache_line_size));
    g.obj_size = g.buffer_size;
    g.flags = SLAB_HWCACHE_ALIGN;
    for (unsigned order = 0; order < 11; order++) {
        uint64_t left_over, num;
        cache_estimate(a, order, g.buffer_size, a.cache_line_size, false, left_over, num);
        if (num) {
            g.num = uint32_t(num);
            g.gfporder = order;
            g.left_over = uint32_t(left_over);
            break;
        }
    }
    g.colour = g.left_over / g.colour_off;
    g.slab_size = uint32_t(align_up(g.num * KMEM_BUFCTL_SIZE + a.sizeof_slab, a.cache_line_size));
    return g;
}

SlabTunables enable_cpucache_tunables(uint64_t buffer_size, unsigned nr_cpus, bool debug) {
    uint32_t limit;
    if (buffer_size > 131072)
        limit = 1;
    else if (buffer_size > PAGE_SIZE)
        limit = 8;
    else if (buffer_size > 1024)
        limit = 24;
    else if (buffer_size > 256)
        limit = 54;
    else
        limit = 120;
    // CPU bound tasks (e.g. network routing) can exhibit cpu bound allocations; the shared
    // array gives them a second level of caching on SMP.
    const uint32_t shared = (buffer_size <= PAGE_SIZE && nr_cpus > 1) ? 8 : 0;
    if (debug && limit > 32) limit = 32;
    return {limit, (limit + 1) / 2, shared};
}

} // namespace mmemu
