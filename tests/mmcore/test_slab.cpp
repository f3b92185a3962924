// The SLAB allocator (2.6-era mm/slab.c, "V26" in /tmp/facts/slab.md), checked against values
// worked out by hand from the kernel's formulas. The working is beside each expected value.
//
// Formulas used (V26):
//  * size is rounded up to a word; SLAB_HWCACHE_ALIGN: ralign = cache line (64), halved while
//    size <= ralign / 2; else ralign = BYTES_PER_WORD; SLAB_RED_ZONE: ralign = 8 and
//    obj_offset += align, size += align + 8; the caller's align wins if larger.
//  * off-slab management if size >= 512 (decided before the final alignment), then
//    size = ALIGN(size, align).
//  * on-slab: nr = (PAGE_SIZE << order - sizeof(struct slab)) / (size + 4), minus one if
//    ALIGN(sizeof(struct slab) + 4 nr, align) + nr size exceeds the slab; off-slab:
//    nr = slab bytes / size. left_over = slab bytes - nr size - mgmt.
//  * calculate_slab_order: take the order, stop at slab_break_gfp_order or when
//    left_over * 8 <= slab bytes; off-slab stops when num > (size - sizeof(struct slab)) / 4.
//  * slab_size = ALIGN(4 num + sizeof(struct slab), align); off-slab moves back on-slab when
//    left_over >= slab_size; colour_off = max(64, align), colour = left_over / colour_off.
//  * sizeof(struct slab) = 48 on x86_64, 28 on i386.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "mmcore/bug.h"
#include "mmcore/kernel.h"
#include "mmcore/slab.h"
#include "mmcore/slab_geometry.h"
#include "tests/mmcore/test_helpers.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {

const SlabArch kX64{8, 64, 48, 1}; // bytes_per_word, cache line, sizeof(struct slab), break
const SlabArch kI386{4, 64, 28, 1};

SlabGeometry kmalloc_geom(const SlabArch& a, uint64_t size) {
    SlabGeometry g;
    // kmalloc caches: align ARCH_KMALLOC_MINALIGN 8, flags SLAB_HWCACHE_ALIGN.
    const std::string err = calculate_geometry(a, size, 8, SLAB_HWCACHE_ALIGN, false, false, g);
    REQUIRE(err.empty());
    return g;
}

struct Expect {
    uint64_t size;
    uint32_t buffer_size, align, num, gfporder, left_over, slab_size, colour;
    bool off_slab;
};

void check(const SlabGeometry& g, const Expect& e) {
    INFO("object size " << e.size);
    CHECK(g.buffer_size == e.buffer_size);
    CHECK(g.align == e.align);
    CHECK(g.num == e.num);
    CHECK(g.gfporder == e.gfporder);
    CHECK(g.left_over == e.left_over);
    CHECK(g.slab_size == e.slab_size);
    CHECK(g.colour == e.colour);
    CHECK(g.off_slab() == e.off_slab);
}

kmem_cache* create(Kernel& k, const std::string& name, uint64_t size, uint64_t align,
                   uint32_t flags) {
    std::string err;
    kmem_cache* c = k.slab.kmem_cache_create(name, size, align, flags, std::nullopt, err, 0);
    INFO(err);
    REQUIRE(c != nullptr);
    return c;
}

std::vector<uint8_t> read(Kernel& k, uint64_t pa, size_t n) {
    std::vector<uint8_t> v(n);
    k.machine.ram().read(PhysAddr{pa}, v.data(), n);
    return v;
}

bool any_report_contains(const Kernel& k, const std::string& what, size_t from = 0) {
    const auto& r = k.slab.reports();
    for (size_t i = from; i < r.size(); i++)
        if (r[i].message.find(what) != std::string::npos) return true;
    return false;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Geometry (pure functions)

TEST_CASE("slab geometry: kmalloc classes, V26 x86_64", "[slab][geometry]") {
    // 32: ralign 64 -> 32 (32 <= 32); nr = 4048/36 = 112; mgmt ALIGN(48 + 448, 32) = 512;
    //     512 + 112*32 = 4096 fits; left 0.
    check(kmalloc_geom(kX64, 32), {32, 32, 32, 112, 0, 0, 512, 0, false});
    // 64: nr = 4048/68 = 59; mgmt ALIGN(48 + 236, 64) = 320; 320 + 3776 = 4096; left 0.
    check(kmalloc_geom(kX64, 64), {64, 64, 64, 59, 0, 0, 320, 0, false});
    // 128: nr = 4048/132 = 30; mgmt ALIGN(168, 64) = 192; left 4096 - 3840 - 192 = 64 ->
    //      colour 1.
    check(kmalloc_geom(kX64, 128), {128, 128, 64, 30, 0, 64, 192, 1, false});
    // 96 (buffer 128 with a 64-byte line): same as 128.
    check(kmalloc_geom(kX64, 96), {96, 128, 64, 30, 0, 64, 192, 1, false});
    // 192: nr = 4048/196 = 20; mgmt ALIGN(128, 64) = 128; left 4096 - 3840 - 128 = 128 -> 2.
    check(kmalloc_geom(kX64, 192), {192, 192, 64, 20, 0, 128, 128, 2, false});
    // 256: nr = 4048/260 = 15; mgmt ALIGN(108, 64) = 128; left 128 -> colour 2.
    check(kmalloc_geom(kX64, 256), {256, 256, 64, 15, 0, 128, 128, 2, false});
    // 512: off-slab; nr = 8, left 0; slab_size ALIGN(32 + 48, 64) = 128 > left 0 -> stays
    //      off, slab_size = 80 unaligned.
    check(kmalloc_geom(kX64, 512), {512, 512, 64, 8, 0, 0, 80, 0, true});
    // 1024: off; 4 per slab; slab_size 16 + 48 = 64.
    check(kmalloc_geom(kX64, 1024), {1024, 1024, 64, 4, 0, 0, 64, 0, true});
    // 2048: off; 2; 8 + 48 = 56.
    check(kmalloc_geom(kX64, 2048), {2048, 2048, 64, 2, 0, 0, 56, 0, true});
    // 4096: off; 1; 4 + 48 = 52.
    check(kmalloc_geom(kX64, 4096), {4096, 4096, 64, 1, 0, 0, 52, 0, true});
    // 8192: order 0 holds none; order 1 holds 1 (left 0) -> order 1.
    check(kmalloc_geom(kX64, 8192), {8192, 8192, 64, 1, 1, 0, 52, 0, true});
    // 4 MiB: order 10.
    check(kmalloc_geom(kX64, 4194304), {4194304, 4194304, 64, 1, 10, 0, 52, 0, true});
}

TEST_CASE("slab geometry: i386 (sizeof(struct slab) 28)", "[slab][geometry]") {
    // 32: nr = (4096 - 28)/36 = 113; mgmt ALIGN(28 + 452, 32) = 480; 480 + 3616 = 4096.
    check(kmalloc_geom(kI386, 32), {32, 32, 32, 113, 0, 0, 480, 0, false});
    // 64: nr = 4068/68 = 59; mgmt ALIGN(28 + 236, 64) = 320; 320 + 3776 = 4096.
    check(kmalloc_geom(kI386, 64), {64, 64, 64, 59, 0, 0, 320, 0, false});
    // Off-slab slab_size = 4 num + 28: 512 -> 60, 1024 -> 44, 4096 -> 32.
    check(kmalloc_geom(kI386, 512), {512, 512, 64, 8, 0, 0, 60, 0, true});
    check(kmalloc_geom(kI386, 1024), {1024, 1024, 64, 4, 0, 0, 44, 0, true});
    check(kmalloc_geom(kI386, 4096), {4096, 4096, 64, 1, 0, 0, 32, 0, true});
}

TEST_CASE("slab geometry: left_over*8 rule and slab_break_gfp_order", "[slab][geometry]") {
    SlabArch b1 = kX64, b0 = kX64;
    b0.slab_break_gfp_order = 0;
    SlabGeometry g;
    SECTION("700 bytes, break order 1") {
        // size 704 (word, then ALIGN 64), off-slab (>= 512). Order 0: 5 objects, left 576,
        // 576*8 > 4096 -> try order 1: 11 objects (7744), left 448; stop (order 1 >= 1).
        // slab_size ALIGN(44 + 48, 64) = 128 <= 448 -> on-slab, left 320, colour 5.
        REQUIRE(calculate_geometry(b1, 700, 0, SLAB_HWCACHE_ALIGN, false, false, g).empty());
        check(g, {700, 704, 64, 11, 1, 320, 128, 5, false});
    }
    SECTION("700 bytes, break order 0") {
        // Order 0: 5 objects, left 576; stop. slab_size ALIGN(20 + 48, 64) = 128 -> on-slab,
        // left 448, colour 7.
        REQUIRE(calculate_geometry(b0, 700, 0, SLAB_HWCACHE_ALIGN, false, false, g).empty());
        check(g, {700, 704, 64, 5, 0, 448, 128, 7, false});
    }
    SECTION("3000 bytes, break order 1") {
        // size 3008, off-slab. Order 0: 1 object, left 1088, 8704 > 4096 -> order 1: 2, left
        // 2176; stop. slab_size ALIGN(8 + 48, 64) = 64 -> on-slab, left 2112, colour 33.
        REQUIRE(calculate_geometry(b1, 3000, 0, SLAB_HWCACHE_ALIGN, false, false, g).empty());
        check(g, {3000, 3008, 64, 2, 1, 2112, 64, 33, false});
    }
    SECTION("3000 bytes, break order 0") {
        // Order 0: 1 object, left 1088; stop. slab_size 64 -> on-slab, left 1024, colour 16.
        REQUIRE(calculate_geometry(b0, 3000, 0, SLAB_HWCACHE_ALIGN, false, false, g).empty());
        check(g, {3000, 3008, 64, 1, 0, 1024, 64, 16, false});
    }
    SECTION("SlabArch::for_bits") {
        // BREAK_GFP_ORDER_HI when totalram_pages > 32 MiB >> 12 = 8192.
        CHECK(SlabArch::for_bits(true, 8192).slab_break_gfp_order == 0);
        CHECK(SlabArch::for_bits(true, 8193).slab_break_gfp_order == 1);
        CHECK(SlabArch::for_bits(true, 8193).sizeof_slab == 48);
        CHECK(SlabArch::for_bits(false, 8193).sizeof_slab == 28);
        CHECK(SlabArch::for_bits(false, 8193).bytes_per_word == 4);
    }
}

TEST_CASE("slab geometry: red zone layout and cache_cache", "[slab][geometry]") {
    SlabGeometry g;
    // 32 bytes, HWCACHE, RED_ZONE|POISON with debug: ralign 32 from HWCACHE, then RED_ZONE sets
    // ralign 8: obj_offset 8, size 32 + 8 + 8 = 48: rz1 [0,8), object [8,40), rz2 [40,48).
    // nr = 4048/52 = 77; mgmt ALIGN(48 + 308, 8) = 360; 360 + 77*48 = 4056 fits; left 40;
    // colour_off 64 -> colour 0.
    REQUIRE(calculate_geometry(kX64, 32, 8, SLAB_HWCACHE_ALIGN | SLAB_RED_ZONE | SLAB_POISON, true,
                               false, g)
                .empty());
    CHECK(g.obj_offset == 8);
    CHECK(g.obj_size == 32);
    CHECK(g.buffer_size == 48);
    CHECK(g.align == 8);
    CHECK(g.num == 77);
    CHECK(g.left_over == 40);
    CHECK(g.colour == 0);
    // Without the debug build the flags are ignored.
    REQUIRE(calculate_geometry(kX64, 32, 8, SLAB_HWCACHE_ALIGN | SLAB_RED_ZONE | SLAB_POISON, false,
                               false, g)
                .empty());
    CHECK(g.buffer_size == 32);
    CHECK(g.obj_offset == 0);
    // Sizes out of range are refused.
    CHECK_FALSE(calculate_geometry(kX64, 4, 0, 0, false, false, g).empty());
    CHECK_FALSE(calculate_geometry(kX64, KMALLOC_MAX_SIZE + 1, 0, 0, false, false, g).empty());

    // cache_cache: ALIGN(size, 64), first order holding one object, on-slab.
    // 176 -> 192: 4048/196 = 20; mgmt ALIGN(128, 64) = 128; left 128; colour 2.
    SlabGeometry c = cache_cache_geometry(kX64, 176);
    CHECK(c.buffer_size == 192);
    CHECK(c.num == 20);
    CHECK(c.gfporder == 0);
    CHECK(c.colour == 2);
    // 624 -> 640: 4048/644 = 6; mgmt ALIGN(72, 64) = 128; 128 + 3840 = 3968 -> 6, left 128.
    c = cache_cache_geometry(kX64, 624);
    CHECK(c.buffer_size == 640);
    CHECK(c.num == 6);
    CHECK(c.left_over == 128);
}

TEST_CASE("slab geometry: enable_cpucache tunables", "[slab][geometry]") {
    auto t = [](uint64_t size, unsigned cpus, bool debug) {
        const SlabTunables x = enable_cpucache_tunables(size, cpus, debug);
        return std::array<uint32_t, 3>{x.limit, x.batchcount, x.shared};
    };
    using A = std::array<uint32_t, 3>;
    // limit: > 128K -> 1, > 4096 -> 8, > 1024 -> 24, > 256 -> 54, else 120;
    // batch = (limit + 1) / 2; shared 8 on SMP for sizes <= PAGE_SIZE.
    CHECK(t(32, 2, false) == A{120, 60, 8});
    CHECK(t(256, 2, false) == A{120, 60, 8});
    CHECK(t(257, 2, false) == A{54, 27, 8});
    CHECK(t(1024, 2, false) == A{54, 27, 8});
    CHECK(t(1025, 2, false) == A{24, 12, 8});
    CHECK(t(4096, 2, false) == A{24, 12, 8});
    CHECK(t(4097, 2, false) == A{8, 4, 0});
    CHECK(t(131072, 2, false) == A{8, 4, 0});
    CHECK(t(131073, 2, false) == A{1, 1, 0});
    // Uniprocessor: no shared array.
    CHECK(t(32, 1, false) == A{120, 60, 0});
    CHECK(t(2048, 1, false) == A{24, 12, 0});
    // DEBUG caps the limit at 32.
    CHECK(t(32, 2, true) == A{32, 16, 8});
    CHECK(t(512, 2, true) == A{32, 16, 8});
    CHECK(t(2048, 2, true) == A{24, 12, 8});
    CHECK(t(8192, 1, true) == A{8, 4, 0});
}

// ---------------------------------------------------------------------------------------------
// A booted kernel's kmalloc caches

TEST_CASE("slab: kmalloc caches of a booted x86_64 kernel", "[slab][kmalloc]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    Kernel& k = b.k;
    const kmem_cache* c64 = k.slab.find_cache("kmalloc-64");
    REQUIRE(c64);
    CHECK(c64->g.buffer_size == 64);
    CHECK(c64->g.num == 59);
    const kmem_cache* c96 = k.slab.find_cache("kmalloc-96");
    REQUIRE(c96);
    CHECK(c96->g.buffer_size == 128); // HWCACHE with a 64-byte line
    CHECK(c96->g.num == 30);
    REQUIRE(k.slab.find_cache("kmalloc-32"));
    CHECK(k.slab.find_cache("kmalloc-32")->g.num == 112);
    REQUIRE(k.slab.find_cache("kmalloc-192"));
    CHECK(k.slab.find_cache("kmalloc-192")->g.num == 20);
    REQUIRE(k.slab.find_cache("kmalloc-256"));
    CHECK(k.slab.find_cache("kmalloc-256")->g.num == 15);
    // /proc/slabinfo order: newest first, cache_cache ("kmem_cache") last.
    REQUIRE_FALSE(k.slab.caches().empty());
    CHECK(k.slab.caches().back()->name == "kmem_cache");
    // enable_cpucache ran for every cache (1 CPU: no shared array).
    CHECK(c64->tun.limit == 120);
    CHECK(c64->tun.batchcount == 60);
    CHECK(c64->tun.shared == 0);

    CHECK(k.slab.kmalloc(0, GFP_KERNEL, 0) == ZERO_SIZE_PTR);
    CHECK(k.slab.kmalloc(KMALLOC_MAX_SIZE + 1, GFP_KERNEL, 0).null());
    CHECK(k.slab.ksize(ZERO_SIZE_PTR) == 0);
    k.slab.kfree(ZERO_SIZE_PTR, 0); // no-op
    k.slab.kfree(SlabObj{}, 0);     // no-op

    // kmalloc(100) -> the first class >= 100 is 128: ksize 128.
    const SlabObj o100 = k.slab.kmalloc(100, GFP_KERNEL, 0);
    REQUIRE(o100 > ZERO_SIZE_PTR);
    CHECK(k.slab.ksize(o100) == 128);
    CHECK(k.slab.virt_to_cache(o100) == k.slab.find_cache("kmalloc-128"));
    // Size classes: 33 -> 64, 97 -> 128, 193 -> 256, 8193 -> 16384.
    const std::pair<uint64_t, uint32_t> classes[] = {
        {1, 32}, {32, 32}, {33, 64}, {97, 128}, {193, 256}, {257, 512}, {8193, 16384}};
    std::vector<SlabObj> objs{o100};
    for (auto [size, buf] : classes) {
        const SlabObj o = k.slab.kmalloc(size, GFP_KERNEL, 0);
        REQUIRE(o > ZERO_SIZE_PTR);
        INFO("kmalloc(" << size << ")");
        REQUIRE(k.slab.virt_to_cache(o));
        CHECK(k.slab.virt_to_cache(o)->g.buffer_size == buf);
        objs.push_back(o);
    }
    // The largest class: 4 MiB, one object in an order-10 slab.
    const SlabObj big = k.slab.kmalloc(KMALLOC_MAX_SIZE, GFP_KERNEL, 0);
    REQUIRE(big > ZERO_SIZE_PTR);
    CHECK(k.slab.virt_to_cache(big)->g.gfporder == 10);
    CHECK(big.value % (4 * MiB) == 0); // an order-10 block is 4 MiB aligned, s_mem at offset 0
    objs.push_back(big);
    // GFP_DMA goes to a DMA cache whose slabs come from ZONE_DMA (below 16 MiB).
    const SlabObj dma = k.slab.kmalloc(64, GFP_KERNEL | GFP_DMA, 0);
    REQUIRE(dma > ZERO_SIZE_PTR);
    CHECK(dma.value < 16 * MiB);
    CHECK(k.slab.virt_to_cache(dma) != c64);
    CHECK(k.slab.virt_to_cache(dma)->g.buffer_size == 64);
    objs.push_back(dma);
    CHECK(k.audit({}) == "");
    for (SlabObj o : objs) k.slab.kfree(o, 0);
    CHECK(k.audit({}) == "");
}

TEST_CASE("slab: kmalloc caches of a booted i386 kernel", "[slab][kmalloc]") {
    Booted b(machine(Arch::i386, 128 * MiB));
    REQUIRE(b.k.slab.find_cache("kmalloc-32"));
    CHECK(b.k.slab.find_cache("kmalloc-32")->g.num == 113); // sizeof(struct slab) 28
    CHECK(b.k.slab.find_cache("kmalloc-32")->g.slab_size == 480);
    CHECK(b.k.slab.caches().back()->name == "kmem_cache");
}

// V26 ksize() returns obj_size(cachep), which without DEBUG is cachep->buffer_size (fact sheet
// §5: "ksize = obj_size(cache) (= buffer_size without DEBUG)"): the usable size of a
// kmalloc(90) object is the whole 128-byte buffer (kmalloc-96 is HWCACHE-aligned to 128; and in
// V26 on a 64-byte-line x86_64 kmalloc(90) would come from size-128 anyway).
TEST_CASE("slab: ksize is the buffer size without debug", "[slab][kmalloc]") {
    KernelConfig kc;
    kc.slab_debug = SlabDebug::off;
    Booted b(machine(Arch::x86_64, 64 * MiB), kc);
    const SlabObj o = b.k.slab.kmalloc(90, GFP_KERNEL, 0);
    REQUIRE(o > ZERO_SIZE_PTR);
    CHECK(b.k.slab.ksize(o) == 128);
    b.k.slab.kfree(o, 0);
}

// ---------------------------------------------------------------------------------------------
// kmem_cache_create / alloc / free / destroy

// 200-byte objects, SLAB_HWCACHE_ALIGN, align 0, 64 MiB (slab_break_gfp_order 1):
// ralign 64 (200 > 32); on-slab (200 < 512); size ALIGN(200, 64) = 256; order 0:
// nr = 4048/260 = 15; mgmt ALIGN(48 + 60, 64) = 128; 128 + 15*256 = 3968 fits; left 128;
// 128*8 <= 4096 -> order 0. colour_off 64 -> colour 2; slab_size 128.
// Tunables (buffer 256, 1 CPU): limit 120, batch 60, shared 0.
// Refill: the first refill is capped at 16 (array untouched), later ones take 60; every refill
// finds the lists empty, grows one slab and pulls all 15 of its objects (the slab goes to
// slabs_full). So 40 allocations make ceil(40/15) = 3 slabs, all on slabs_full, with
// 45 - 40 = 5 objects left in the per-CPU array.
TEST_CASE("slab: kmem_cache_create/alloc/free/destroy of 200-byte objects", "[slab][cache]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    Kernel& k = b.k;
    kmem_cache* c = create(k, "test-200", 200, 0, SLAB_HWCACHE_ALIGN);
    const uint64_t slab_pages0 = k.slab.nr_slab_pages(false);
    CHECK(c->g.buffer_size == 256);
    CHECK(c->g.num == 15);
    CHECK(c->g.gfporder == 0);
    CHECK(c->g.colour == 2);
    CHECK_FALSE(c->g.off_slab());
    CHECK(c->tun.limit == 120);
    CHECK(c->tun.batchcount == 60);
    CHECK(c->tun.shared == 0);
    CHECK(k.slab.caches().front() == c); // list_add at the head of the chain
    std::string err;
    CHECK(k.slab.kmem_cache_create("test-200", 64, 0, 0, std::nullopt, err, 0) == nullptr);
    CHECK_FALSE(err.empty());

    const unsigned N = 40;
    std::vector<SlabObj> objs;
    for (unsigned i = 0; i < N; i++) {
        const SlabObj o = k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
        REQUIRE(!o.null());
        objs.push_back(o);
    }
    std::set<SlabObj> distinct(objs.begin(), objs.end());
    CHECK(distinct.size() == N);
    for (SlabObj o : objs) {
        CHECK(o.value % 64 == 0);
        CHECK(o.value + 200 <= 64 * MiB);
        CHECK(k.slab.virt_to_cache(o) == c);
    }
    // Objects of one slab are 256 bytes apart and never overlap.
    std::vector<uint64_t> sorted;
    for (SlabObj o : objs) sorted.push_back(o.value);
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); i++) CHECK(sorted[i] - sorted[i - 1] >= 256);
    CHECK(c->stats.grown == 3);
    CHECK(c->nodelists[0].nr_full == 3);
    CHECK(c->nodelists[0].nr_partial == 0);
    CHECK(c->nodelists[0].nr_free == 0);
    CHECK(c->nodelists[0].free_objects == 0);
    CHECK(c->array[0].avail == 5);
    std::set<uint64_t> pages;
    for (SlabObj o : objs) pages.insert(o.value >> 12);
    CHECK(pages.size() == 3);
    CHECK(k.slab.nr_slab_pages(false) == slab_pages0 + 3); // three order-0 slabs
    CHECK(k.audit({}) == "");

    // Destroying with objects allocated fails, is reported, and keeps the cache.
    const size_t reports0 = k.slab.reports().size();
    CHECK_FALSE(k.slab.kmem_cache_destroy(c, 0));
    CHECK(k.slab.reports().size() == reports0 + 1);
    CHECK(any_report_contains(k, "Can't free all objects", reports0));
    CHECK(k.slab.find_cache("test-200") == c);
    CHECK(k.audit({}) == "");

    for (SlabObj o : objs) k.slab.kmem_cache_free(c, o, 0);
    CHECK(k.slab.kmem_cache_destroy(c, 0));
    CHECK(k.slab.find_cache("test-200") == nullptr);
    // Its three slabs are destroyed (the descriptor, arrays and list3 go back to the per-CPU
    // arrays of their caches, which frees no slab).
    CHECK(k.slab.nr_slab_pages(false) == slab_pages0);
    CHECK(k.audit({}) == "");
}

// cache_flusharray / free_block / free_limit with the 200-byte cache above (1 CPU, no shared
// array): limit 120, batchcount 60, num 15, free_limit = (1 + 1 CPU) * 60 + 15 = 135.
// 300 allocations = 20 slabs taken whole by 20 refills (array empty at the end, all slabs on
// slabs_full); objs[15 s .. 15 s + 14] are slab s. Freeing them in allocation order:
//  * frees 1..120 fill the array; free 121 flushes the 60 oldest (slabs 0..3) through
//    free_block: each slab empties with free_objects 15, 30, 45, 60 <= 135 -> slabs_free;
//  * free 181 flushes slabs 4..7: free_objects 75..120 -> slabs_free;
//  * free 241 flushes slabs 8..11: slab 8 empties at 135 (not > 135) -> slabs_free; slabs
//    9, 10, 11 empty at 150 > 135 -> destroyed (free_objects back to 135 each time);
//  * frees 242..300 leave 120 objects (slabs 12..19) in the array.
// So: 3 slabs reaped, 9 on slabs_free, 8 still "full", free_objects 135.
// kmem_cache_shrink then drains the array (slabs 12..19 empty above free_limit: destroyed) and
// the free list (9 more): all 20 reaped, nothing left.
TEST_CASE("slab: free_limit decides when emptied slabs are destroyed", "[slab][cache]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    Kernel& k = b.k;
    kmem_cache* c = create(k, "limit-200", 200, 0, SLAB_HWCACHE_ALIGN);
    REQUIRE(c->g.num == 15);
    CHECK(c->nodelists[0].free_limit == 135);
    std::vector<SlabObj> objs;
    for (int i = 0; i < 300; i++) {
        objs.push_back(k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0));
        REQUIRE(!objs.back().null());
    }
    CHECK(c->stats.grown == 20);
    CHECK(c->nodelists[0].nr_full == 20);
    CHECK(c->array[0].avail == 0);
    for (SlabObj o : objs) k.slab.kmem_cache_free(c, o, 0);
    CHECK(c->stats.reaped == 3);
    CHECK(c->nodelists[0].nr_free == 9);
    CHECK(c->nodelists[0].nr_full == 8);
    CHECK(c->nodelists[0].nr_partial == 0);
    CHECK(c->nodelists[0].free_objects == 135);
    CHECK(c->array[0].avail == 120);
    CHECK(k.audit({}) == "");
    CHECK_FALSE(k.slab.kmem_cache_shrink(c, 0)); // nothing remains in use
    CHECK(c->stats.reaped == 20);
    CHECK(c->nodelists[0].nr_free == 0);
    CHECK(c->nodelists[0].nr_full == 0);
    CHECK(c->nodelists[0].free_objects == 0);
    CHECK(k.audit({}) == "");
}

TEST_CASE("slab: LIFO per-CPU array", "[slab][cache]") {
    Booted b(machine(Arch::x86_64, 64 * MiB, 2));
    Kernel& k = b.k;
    kmem_cache* c = create(k, "lifo", 128, 0, SLAB_HWCACHE_ALIGN);
    const SlabObj a = k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
    const SlabObj x = k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
    REQUIRE(!a.null());
    REQUIRE(!x.null());
    REQUIRE(a != x);
    // ac->entry[ac->avail++] = obj on free, ac->entry[--ac->avail] on allocation.
    k.slab.kmem_cache_free(c, a, 0);
    k.slab.kmem_cache_free(c, x, 0);
    CHECK(k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0) == x);
    CHECK(k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0) == a);
    // Another CPU has its own array: an object freed on CPU 1 is CPU 1's next one.
    const SlabObj y = k.slab.kmem_cache_alloc(c, GFP_KERNEL, 1);
    k.slab.kmem_cache_free(c, x, 1);
    CHECK(k.slab.kmem_cache_alloc(c, GFP_KERNEL, 1) == x);
    // Same with kmalloc/kfree.
    const SlabObj m = k.slab.kmalloc(50, GFP_KERNEL, 0);
    k.slab.kfree(m, 0);
    CHECK(k.slab.kmalloc(60, GFP_KERNEL, 0) == m); // both are kmalloc-64
    k.slab.kfree(m, 0);
    for (SlabObj o : {a, x, y}) k.slab.kmem_cache_free(c, o, 0);
    CHECK(k.slab.kmem_cache_destroy(c, 0));
    CHECK(k.audit({}) == "");
}

// ---------------------------------------------------------------------------------------------
// Debug: poisoning and red zones (SlabDebug::flags: applied to caches that ask for them)

// 96 bytes, SLAB_POISON | SLAB_RED_ZONE, align 0: size 96 (a word multiple), ralign 8 (red
// zone), obj_offset 8, buffer 96 + 8 + 8 = 112: rz1 [0,8), object [8,104), rz2 [104,112).
// nr = 4048/116 = 34; mgmt ALIGN(48 + 136, 8) = 184; 184 + 34*112 = 3992 fits; left 104.
TEST_CASE("slab debug: poison and red zones", "[slab][debug]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    Kernel& k = b.k;
    REQUIRE(k.config.slab_debug == SlabDebug::flags);
    kmem_cache* c = create(k, "poisoned", 96, 0, SLAB_POISON | SLAB_RED_ZONE);
    CHECK(c->g.obj_offset == 8);
    CHECK(c->g.obj_size == 96);
    CHECK(c->g.buffer_size == 112);
    CHECK(c->g.num == 34);
    CHECK(c->tun.limit == 32); // DEBUG caps 120 at 32
    auto& ram = k.machine.ram();

    const SlabObj o = k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
    REQUIRE(!o.null());
    CHECK((o.value - 8) % 8 == 0);
    // Allocated: POISON_INUSE 0x5a with POISON_END 0xa5 last; both red zones RED_ACTIVE.
    auto bytes = read(k, o.value, 96);
    CHECK(std::all_of(bytes.begin(), bytes.end() - 1, [](uint8_t v) { return v == 0x5a; }));
    CHECK(bytes.back() == 0xa5);
    CHECK(ram.read_u64(PhysAddr{o.value - 8}) == 0xD84156C5635688C0ULL);
    CHECK(ram.read_u64(PhysAddr{o.value + 96}) == 0xD84156C5635688C0ULL);

    // Freed: POISON_FREE 0x6b with 0xa5 last; red zones RED_INACTIVE.
    const size_t r0 = k.slab.reports().size();
    k.slab.kmem_cache_free(c, o, 0);
    bytes = read(k, o.value, 96);
    CHECK(std::all_of(bytes.begin(), bytes.end() - 1, [](uint8_t v) { return v == 0x6b; }));
    CHECK(bytes.back() == 0xa5);
    CHECK(ram.read_u64(PhysAddr{o.value - 8}) == 0x09F911029D74E35BULL);
    CHECK(ram.read_u64(PhysAddr{o.value + 96}) == 0x09F911029D74E35BULL);
    CHECK(k.slab.reports().size() == r0); // a clean alloc/free reports nothing

    SECTION("one byte past the end is caught at free") {
        const SlabObj p = k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
        REQUIRE(p == o); // LIFO
        const uint8_t junk = 0x00;
        ram.write(PhysAddr{p.value + 96}, &junk, 1); // the first byte of red zone 2
        k.slab.kmem_cache_free(c, p, 0);
        CHECK(k.slab.reports().size() == r0 + 1);
        CHECK(any_report_contains(k, "memory outside object was overwritten", r0));
        CHECK(any_report_contains(k, "poisoned", r0));
    }
    SECTION("a write after free is caught at the next allocation") {
        const uint8_t junk = 0x00;
        ram.write(PhysAddr{o.value + 10}, &junk, 1);
        const SlabObj p = k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
        CHECK(p == o);
        CHECK(k.slab.reports().size() == r0 + 1);
        CHECK(any_report_contains(k, "Slab corruption", r0));
        k.slab.kmem_cache_free(c, p, 0);
    }
    SECTION("a double free is reported") {
        // Detected by verify_redzone_free (both zones RED_INACTIVE) before anything is touched
        // in the lists; only the report is checked here.
        Booted b2(machine(Arch::x86_64, 64 * MiB));
        kmem_cache* c2 = create(b2.k, "poisoned2", 96, 0, SLAB_POISON | SLAB_RED_ZONE);
        const SlabObj q = b2.k.slab.kmem_cache_alloc(c2, GFP_KERNEL, 0);
        b2.k.slab.kmem_cache_free(c2, q, 0);
        const size_t before = b2.k.slab.reports().size();
        b2.k.slab.kmem_cache_free(c2, q, 0);
        CHECK(any_report_contains(b2.k, "double free detected", before));
    }
}

TEST_CASE("slab debug: off ignores SLAB_POISON and SLAB_RED_ZONE", "[slab][debug]") {
    KernelConfig kc;
    kc.slab_debug = SlabDebug::off;
    Booted b(machine(Arch::x86_64, 64 * MiB), kc);
    kmem_cache* c = create(b.k, "plain", 96, 0, SLAB_POISON | SLAB_RED_ZONE);
    // No red zones: buffer 96 (word aligned, align 8); nr = 4048/100 = 40; mgmt
    // ALIGN(48 + 160, 8) = 208; 208 + 3840 = 4048 fits.
    CHECK(c->g.buffer_size == 96);
    CHECK(c->g.obj_offset == 0);
    CHECK(c->g.num == 40);
    const SlabObj o = b.k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
    const uint8_t v = 0x11;
    b.k.machine.ram().write(PhysAddr{o.value + 95}, &v, 1);
    b.k.slab.kmem_cache_free(c, o, 0);
    CHECK(read(b.k, o.value, 96)[95] == 0x11); // not poisoned
    CHECK(b.k.slab.reports().empty());
}

// ---------------------------------------------------------------------------------------------
// Colouring: slab k starts its management/objects at (k mod colour) * colour_off.

TEST_CASE("slab: colouring offsets consecutive slabs", "[slab][colour]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    Kernel& k = b.k;
    SECTION("200-byte objects: colour 2, colour_off 64, on-slab management 128") {
        kmem_cache* c = create(k, "colour-200", 200, 0, SLAB_HWCACHE_ALIGN);
        REQUIRE(c->g.colour == 2);
        REQUIRE(c->g.slab_size == 128);
        // 45 allocations = 3 slabs of 15, grown in allocation order (each refill grows one
        // slab and takes all of it). First object of slab s at page offset
        // (s mod 2) * 64 + 128: 128, 192, 128.
        std::vector<SlabObj> objs;
        for (int i = 0; i < 45; i++) objs.push_back(k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0));
        const uint64_t expect[3] = {128, 192, 128};
        for (int s = 0; s < 3; s++) {
            const auto first = std::min_element(objs.begin() + 15 * s, objs.begin() + 15 * (s + 1));
            INFO("slab " << s);
            CHECK((first->value & 4095) == expect[s]);
            // All 15 objects of the slab share its page.
            for (int i = 15 * s; i < 15 * (s + 1); i++)
                CHECK(objs[i].value >> 12 == first->value >> 12);
        }
        for (SlabObj o : objs) k.slab.kmem_cache_free(c, o, 0);
        CHECK(k.slab.kmem_cache_destroy(c, 0));
    }
    SECTION("3000-byte objects: colour 33, order-1 slabs, management 64") {
        kmem_cache* c = create(k, "colour-3000", 3000, 0, SLAB_HWCACHE_ALIGN);
        REQUIRE(c->g.colour == 33);
        REQUIRE(c->g.gfporder == 1);
        REQUIRE(c->g.num == 2);
        // Slab s: s_mem = slab base + 64 s + 64 (for s < 33).
        std::vector<SlabObj> objs;
        for (int i = 0; i < 8; i++) objs.push_back(k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0));
        for (int s = 0; s < 4; s++) {
            const uint64_t first = std::min(objs[2 * s], objs[2 * s + 1]).value;
            const uint64_t second = std::max(objs[2 * s], objs[2 * s + 1]).value;
            INFO("slab " << s);
            CHECK((first & 8191) == uint64_t(64 * s + 64));
            CHECK(second - first == 3008);
        }
        for (SlabObj o : objs) k.slab.kmem_cache_free(c, o, 0);
        CHECK(k.slab.kmem_cache_destroy(c, 0));
    }
    CHECK(k.audit({}) == "");
}

// ---- Debug layout: red zones, SLAB_STORE_USER and FORCED_DEBUG (2.6.32 mm/slab.c) ------------
//
// kmem_cache_create() with DEBUG: ralign = BYTES_PER_WORD for SLAB_STORE_USER, REDZONE_ALIGN (8)
// for SLAB_RED_ZONE (size rounded up to 8), the caller's align if larger, and "disable debug if
// necessary": ralign > __alignof__(unsigned long long) (8) drops RED_ZONE and STORE_USER. Then
// RED_ZONE adds 2 * 8 bytes (obj_offset 8) and STORE_USER adds REDZONE_ALIGN (with red zones) or
// BYTES_PER_WORD. The off-slab test sees the size after these additions.

TEST_CASE("slab geometry: an alignment above 8 drops the red zones", "[slab][geometry][debug]") {
    SlabGeometry g;
    // 64 bytes aligned to 64 with SLAB_RED_ZONE: ralign 8 -> 64 (the caller's) > 8: no red
    // zone. buffer 64; nr = (4096 - 48) / (64 + 4) = 59; mgmt ALIGN(48 + 236, 64) = 320;
    // 320 + 59*64 = 4096 fits, left 0.
    for (const SlabArch& a : {kX64, kI386}) {
        REQUIRE(calculate_geometry(a, 64, 64, SLAB_RED_ZONE, true, false, g).empty());
        CHECK(g.buffer_size == 64);
        CHECK(g.obj_offset == 0);
        CHECK_FALSE(g.flags & SLAB_RED_ZONE);
        CHECK(g.num == 59);
        CHECK(g.gfporder == 0);
        CHECK(g.left_over == 0);
        CHECK(g.slab_size == 320); // i386: ALIGN(28 + 236, 64) = 320 too
    }
}

TEST_CASE("slab geometry: SLAB_RED_ZONE | SLAB_STORE_USER on 100-byte objects",
          "[slab][geometry][debug]") {
    SlabGeometry g;
    // x86_64: size 104 (a word multiple, already 8-aligned); obj_offset 8; 104 + 16 + 8 = 128.
    // nr = 4048 / 132 = 30; mgmt ALIGN(48 + 120, 8) = 168; 168 + 30*128 = 4008 fits; left 88;
    // colour 88 / 64 = 1. Layout: rz1 [0,8), object [8,112), rz2 [112,120), user [120,128).
    REQUIRE(
        calculate_geometry(kX64, 100, 0, SLAB_RED_ZONE | SLAB_STORE_USER, true, false, g).empty());
    CHECK(g.obj_offset == 8);
    CHECK(g.obj_size == 104);
    CHECK(g.buffer_size == 128);
    CHECK(g.num == 30);
    CHECK(g.left_over == 88);
    CHECK(g.colour == 1);
    CHECK(g.slab_size == 168);
    // i386: size 100 -> 100 (word multiple) -> 104 (red zone alignment); 104 + 16 + 8 = 128.
    // nr = 4068 / 132 = 30; mgmt ALIGN(28 + 120, 8) = 152; left 4096 - 152 - 3840 = 104.
    REQUIRE(
        calculate_geometry(kI386, 100, 0, SLAB_RED_ZONE | SLAB_STORE_USER, true, false, g).empty());
    CHECK(g.buffer_size == 128);
    CHECK(g.num == 30);
    CHECK(g.left_over == 104);
    CHECK(g.slab_size == 152);
    // SLAB_STORE_USER alone on i386: ralign 4 (BYTES_PER_WORD) is kept; 100 + 4 = 104.
    REQUIRE(calculate_geometry(kI386, 100, 0, SLAB_STORE_USER, true, false, g).empty());
    CHECK(g.flags & SLAB_STORE_USER);
    CHECK(g.obj_offset == 0);
    CHECK(g.buffer_size == 104);
}

namespace {
KernelConfig forced_debug() {
    KernelConfig kc;
    kc.slab_debug = SlabDebug::forced;
    return kc;
}
} // namespace

// FORCED_DEBUG: SLAB_RED_ZONE | SLAB_STORE_USER when size < 4096 or fls(size - 1) ==
// fls(size - 1 + REDZONE_ALIGN + 2 * 8), and SLAB_POISON for every cache.
TEST_CASE("slab: FORCED_DEBUG cache sizes with red zones and the last-user word", "[slab][debug]") {
    SECTION("x86_64") {
        Booted b(machine(Arch::x86_64, 256 * MiB), forced_debug());
        // 32 bytes: obj_offset 8, 32 + 16 + 8 = 56; nr = 4048 / 60 = 67; mgmt ALIGN(48 + 268,
        // 8) = 320; 320 + 67*56 = 4072 fits, left 24.
        kmem_cache* c = create(b.k, "f32", 32, 0, 0);
        CHECK(c->g.flags & SLAB_RED_ZONE);
        CHECK(c->g.flags & SLAB_STORE_USER);
        CHECK(c->g.flags & SLAB_POISON);
        CHECK(c->g.buffer_size == 56);
        CHECK(c->g.num == 67);
        CHECK(c->g.left_over == 24);
        // 3000 bytes: 3000 + 24 = 3024 >= 512, provisionally off-slab; order 0 holds 1 with
        // 1072 left (1072 * 8 > 4096), order 1 holds 2 with 2144 left, then stops (break
        // order 1). slab_size ALIGN(2*4 + 48, 8) = 56 <= 2144: back on-slab, left 2088,
        // colour 2088 / 64 = 32.
        c = create(b.k, "f3000", 3000, 0, 0);
        CHECK(c->g.buffer_size == 3024);
        CHECK(c->g.obj_offset == 8);
        CHECK(c->g.num == 2);
        CHECK(c->g.gfporder == 1);
        CHECK_FALSE(c->g.off_slab());
        CHECK(c->g.left_over == 2088);
        CHECK(c->g.colour == 32);
        // 488 bytes: 488 + 24 = 512 is off-slab (the size after the debug words decides); 8
        // per order-0 slab with nothing left, so the management stays off-slab.
        c = create(b.k, "f488", 488, 0, 0);
        CHECK(c->g.buffer_size == 512);
        CHECK(c->g.off_slab());
        CHECK(c->g.num == 8);
        // 5000 bytes: fls(4999) = fls(5023) = 13, so red zones and the user word too: 5024;
        // order 1 holds 1 (3168 left; on-slab after the move: 3168 - 56 = 3112), colour 48.
        c = create(b.k, "f5000", 5000, 0, 0);
        CHECK(c->g.flags & SLAB_RED_ZONE);
        CHECK(c->g.buffer_size == 5024);
        CHECK(c->g.gfporder == 1);
        CHECK(c->g.num == 1);
        CHECK(c->g.left_over == 3112);
        CHECK(c->g.colour == 48);
        // 4096 bytes: fls(4095) = 12, fls(4095 + 24) = 13: poisoned only, 4096 bytes.
        c = create(b.k, "f4096", 4096, 0, 0);
        CHECK_FALSE(c->g.flags & SLAB_RED_ZONE);
        CHECK_FALSE(c->g.flags & SLAB_STORE_USER);
        CHECK(c->g.flags & SLAB_POISON);
        CHECK(c->g.buffer_size == 4096);
    }
    SECTION("i386") {
        Booted b(machine(Arch::i386, 256 * MiB), forced_debug());
        // 32 bytes: 56 as on x86_64 (the user word takes REDZONE_ALIGN = 8 with red zones);
        // nr = 4068 / 60 = 67; mgmt ALIGN(28 + 268, 8) = 296; left 4096 - 296 - 3752 = 48.
        kmem_cache* c = create(b.k, "f32", 32, 0, 0);
        CHECK(c->g.buffer_size == 56);
        CHECK(c->g.num == 67);
        CHECK(c->g.left_over == 48);
        // 3000 bytes: 3024, order 1, 2 per slab; slab_size ALIGN(8 + 28, 8) = 40: left 2104.
        c = create(b.k, "f3000", 3000, 0, 0);
        CHECK(c->g.buffer_size == 3024);
        CHECK(c->g.left_over == 2104);
        CHECK(c->g.colour == 32);
    }
}

TEST_CASE("slab: the last-user word records the allocating and the freeing call", "[slab][debug]") {
    Booted b(machine(Arch::x86_64, 256 * MiB));
    kmem_cache* c = create(b.k, "users", 100, 0, SLAB_RED_ZONE | SLAB_STORE_USER | SLAB_POISON);
    REQUIRE(c->g.buffer_size == 128);
    // The object starts 8 bytes into its 128-byte buffer; the user word is the buffer's last
    // 8 bytes (buffer + 120), red zone 2 the 8 before it (buffer + 112).
    const SlabObj obj = b.k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0, 6);
    REQUIRE(!obj.null());
    const uint64_t buf = obj.value - 8;
    CHECK(b.m.ram().read_u64(PhysAddr{buf + 120}) == 6);
    CHECK(b.m.ram().read_u64(PhysAddr{buf + 112}) == RED_ACTIVE);
    CHECK(b.m.ram().read_u64(PhysAddr{buf}) == RED_ACTIVE);
    b.k.slab.kmem_cache_free(c, obj, 0, 9);
    CHECK(b.m.ram().read_u64(PhysAddr{buf + 120}) == 9);
    CHECK(b.m.ram().read_u64(PhysAddr{buf + 112}) == RED_INACTIVE);
    // A write into the freed object is found by the poison check of the next allocation,
    // whose report names the red zones and the last user (event 9 - 1 = 8).
    b.m.ram().write_u32(PhysAddr{obj.value + 20}, 0);
    REQUIRE(b.k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0, 11) == obj);
    REQUIRE(b.k.slab.reports().size() == 1);
    const std::string& msg = b.k.slab.reports()[0].message;
    INFO(msg);
    CHECK(msg.find("Slab corruption: users start=") == 0);
    CHECK(msg.find("first bad byte at offset 20") != std::string::npos);
    CHECK(msg.find("Redzone: 0x9f911029d74e35b/0x9f911029d74e35b.") != std::string::npos);
    CHECK(msg.find("Last user: event 8") != std::string::npos);
}

TEST_CASE("slab: a corrupted free list stops with the kernel's list-corruption BUG",
          "[slab][debug]") {
    Booted b(machine(Arch::x86_64, 256 * MiB));
    // 256-byte objects, on-slab: struct slab (48 bytes) then kmem_bufctl_t[15] at the slab's
    // start; no debug, so only the list checks guard the free list.
    kmem_cache* c = create(b.k, "victim", 256, 0, SLAB_HWCACHE_ALIGN);
    REQUIRE_FALSE(c->g.off_slab());
    const SlabObj obj = b.k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
    REQUIRE(!obj.null());
    // The refill moved the slab's other 14 objects into the per-CPU array; shrinking the cache
    // gives them back (slab_put_obj() relinks the free list in RAM), leaving one slab in use by
    // one object, its free list 14 long.
    b.k.slab.kmem_cache_shrink(c, 0);
    // Its bufctl array (colour 0 for the first slab): the slab's page + 48, 15 entries.
    // Overwrite every entry with 0xffff0000 (as a write past an object in the page below
    // would): the refill that walks the list must stop with the BUG, not hand out a wild
    // address or loop.
    const uint64_t page = obj.value & ~uint64_t{4095};
    for (unsigned i = 0; i < 15; i++) b.m.ram().write_u32(PhysAddr{page + 48 + 4 * i}, 0xffff0000u);
    std::string what;
    try {
        for (int i = 0; i < 64; i++) b.k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0);
    } catch (const KernelBugOn& e) {
        what = e.what();
    }
    INFO(what);
    CHECK(what.find("slab: Internal list corruption detected in cache 'victim'(15)") == 0);
    CHECK(what.find("] = 0xffff0000 is neither BUFCTL_END nor an object index (below 15)") !=
          std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Geometry below 32 bytes, and the property that everything fits

namespace {
SlabGeometry plain_geom(const SlabArch& a, uint64_t size) {
    SlabGeometry g;
    const std::string err = calculate_geometry(a, size, 0, 0, false, false, g);
    REQUIRE(err.empty());
    return g;
}
} // namespace

TEST_CASE("slab geometry: objects under 32 bytes", "[slab][geometry]") {
    // No flags, no alignment asked: ralign = BYTES_PER_WORD, so the object size is only rounded
    // to a word. On-slab: nr = (4096 - sizeof(struct slab)) / (size + 4), mgmt = ALIGN(slab +
    // 4 nr, align); order 0 always (left_over * 8 <= 4096). colour_off = 64.
    // x86_64 (slab 48, word 8):
    //  8: nr = 4048 / 12 = 337; mgmt ALIGN(48 + 1348, 8) = 1400; 1400 + 2696 = 4096; left 0.
    check(plain_geom(kX64, 8), {8, 8, 8, 337, 0, 0, 1400, 0, false});
    //  12 rounds to 16: nr = 4048 / 20 = 202; mgmt ALIGN(48 + 808, 8) = 856; 856 + 3232 = 4088;
    //  left 8.
    check(plain_geom(kX64, 12), {12, 16, 8, 202, 0, 8, 856, 0, false});
    //  24: nr = 4048 / 28 = 144; mgmt ALIGN(48 + 576, 8) = 624; 624 + 3456 = 4080; left 16.
    check(plain_geom(kX64, 24), {24, 24, 8, 144, 0, 16, 624, 0, false});
    // i386 (slab 28, word 4):
    //  4: nr = 4068 / 8 = 508; mgmt ALIGN(28 + 2032, 4) = 2060; 2060 + 2032 = 4092; left 4.
    check(plain_geom(kI386, 4), {4, 4, 4, 508, 0, 4, 2060, 0, false});
    //  12: nr = 4068 / 16 = 254; mgmt 28 + 1016 = 1044; 1044 + 3048 = 4092; left 4.
    check(plain_geom(kI386, 12), {12, 12, 4, 254, 0, 4, 1044, 0, false});
    //  20: nr = 4068 / 24 = 169; mgmt 28 + 676 = 704; 704 + 3380 = 4084; left 12.
    check(plain_geom(kI386, 20), {20, 20, 4, 169, 0, 12, 704, 0, false});
    //  21 rounds to 24: nr = 4068 / 28 = 145; mgmt 28 + 580 = 608; 608 + 3480 = 4088; left 8.
    check(plain_geom(kI386, 21), {21, 24, 4, 145, 0, 8, 608, 0, false});
}

TEST_CASE("slab geometry: objects, management and colours fit in the slab, for every size",
          "[slab][geometry]") {
    // For every size up to 1 KiB, then every 8 bytes to 8 KiB, then around each power of two to
    // 4 MiB, with each alignment and flag combination, on both arches, with and without debug:
    // the slab holds at least one object; num buffers, the on-slab management and the left-over
    // add up to exactly the slab; the management holds struct slab and a bufctl per object; the
    // colours fit in the left-over; each buffer holds the object (and its red zones and
    // last-user word when debug keeps them) at the alignment.
    std::vector<uint64_t> sizes;
    for (uint64_t s = 4; s <= 1024; s++) sizes.push_back(s);
    for (uint64_t s = 1032; s <= 8192; s += 8) sizes.push_back(s);
    for (uint64_t p = 16384; p <= KMALLOC_MAX_SIZE; p *= 2)
        for (uint64_t s : {p - 8, p, p + 8})
            if (s <= KMALLOC_MAX_SIZE) sizes.push_back(s);
    const uint32_t flag_sets[] = {0,
                                  SLAB_HWCACHE_ALIGN,
                                  SLAB_RED_ZONE,
                                  SLAB_POISON,
                                  SLAB_RED_ZONE | SLAB_STORE_USER,
                                  SLAB_STORE_USER,
                                  SLAB_HWCACHE_ALIGN | SLAB_RED_ZONE | SLAB_STORE_USER |
                                      SLAB_POISON};
    uint64_t checked = 0, failures = 0;
    std::string first;
    for (const SlabArch& a : {kX64, kI386})
        for (uint64_t size : sizes) {
            if (size < a.bytes_per_word) continue;
            for (uint64_t align : {0, 8, 32, 64, 256, 4096})
                for (uint32_t flags : flag_sets)
                    for (bool debug : {false, true}) {
                        SlabGeometry g;
                        if (!calculate_geometry(a, size, align, flags, debug, false, g).empty())
                            continue;
                        checked++;
                        const uint64_t bytes = uint64_t{4096} << g.gfporder;
                        const uint64_t mgmt_need = a.sizeof_slab + 4ull * g.num;
                        const uint64_t total = uint64_t(g.num) * g.buffer_size +
                                               (g.off_slab() ? 0 : g.slab_size) + g.left_over;
                        const uint32_t colour_off = std::max<uint32_t>(64, g.align);
                        const bool rz = g.flags & SLAB_RED_ZONE, su = g.flags & SLAB_STORE_USER;
                        const uint64_t tail = (rz ? 8 : 0) + (su ? (rz ? 8 : a.bytes_per_word) : 0);
                        std::string why;
                        if (g.num < 1) why += " no object;";
                        if (g.gfporder > KMALLOC_MAX_ORDER) why += " order;";
                        if (total != bytes) why += " does not add up;";
                        if (g.slab_size < mgmt_need) why += " management too small;";
                        if (g.colour_off != colour_off || g.colour != g.left_over / colour_off)
                            why += " colour;";
                        if (g.align < std::max<uint64_t>(align, 1) || g.buffer_size % g.align)
                            why += " alignment;";
                        if (g.obj_size < size || g.obj_offset + g.obj_size + tail > g.buffer_size)
                            why += " object does not fit its buffer;";
                        if (!debug && (rz || su || g.obj_offset)) why += " debug without debug;";
                        if (!why.empty()) {
                            failures++;
                            if (first.empty())
                                first = "size " + std::to_string(size) + " align " +
                                        std::to_string(align) + " flags " + std::to_string(flags) +
                                        " debug " + std::to_string(debug) + ":" + why;
                        }
                    }
        }
    INFO(first);
    CHECK(failures == 0);
    CHECK(checked > 100000);
}
