// Property test: random page and slab traffic must never lose or double-count a frame.
//
// With a fixed seed, 20000 random steps mix alloc_pages (orders 0..10, GFP_KERNEL / GFP_DMA /
// GFP_HIGHUSER_MOVABLE / GFP_ATOMIC, a random CPU) and frees of held blocks (on a random CPU),
// kmalloc of 1..8192 bytes and kfree, and kmem_cache_alloc/free on a 512-byte cache. Every 1000
// steps:
//  * Kernel::audit(held) must be "" (every frame below max_pfn is reserved, free in exactly one
//    buddy or pcp list, a slab page, or one of the test's blocks), and
//  * conservation: Σ managed_pages = buddy free (NR_FREE_PAGES) + pcp pages + pages the test
//    holds + slab pages, since every managed frame is in exactly one of those places.
// Memory is alternately filled (until small allocations keep failing) and drained, so zones
// run into their watermarks, the slow path and highatomic reserves. At the end everything is
// freed, every cache shrunk and the pcp lists drained; the free page count must then equal the
// one measured the same way right after boot. A last variant runs with every cache poisoned and
// red-zoned (SlabDebug::forced), where no debug report may appear.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "mmcore/kernel.h"
#include "tests/mmcore/test_helpers.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {

struct Block {
    page* p;
    unsigned order;
};

template <class T> T take_random(std::vector<T>& v, std::mt19937_64& rng) {
    const size_t i = rng() % v.size();
    T x = v[i];
    v[i] = v.back();
    v.pop_back();
    return x;
}

void run_property(const MachineConfig& mc, uint64_t seed, const KernelConfig& kc = KernelConfig{},
                  unsigned steps = 20000) {
    Booted b(mc, kc);
    Kernel& k = b.k;
    const unsigned ncpu = mc.nr_cpus;
    std::string err;
    kmem_cache* cache =
        k.slab.kmem_cache_create("prop-512", 512, 0, SLAB_HWCACHE_ALIGN, std::nullopt, err, 0);
    INFO(err);
    REQUIRE(cache);

    uint64_t managed = 0;
    for (const auto& n : k.buddy.nodes)
        for (const auto& z : n.node_zones) managed += z.managed_pages;
    REQUIRE(managed == k.layout.totalram_pages);

    // Shrink every cache (twice: shrinking an off-slab cache frees its management objects into
    // smaller kmalloc caches) and drain the pcp lists.
    auto settle = [&] {
        for (int pass = 0; pass < 2; pass++) {
            std::vector<std::string> names;
            for (const kmem_cache* c : k.slab.caches()) names.push_back(c->name);
            for (const auto& n : names) k.slab.kmem_cache_shrink(k.slab.find_cache(n), 0);
        }
        k.buddy.drain_all_pages();
    };
    settle();
    REQUIRE(k.audit({}) == "");
    REQUIRE(k.buddy.nr_pcp_pages() == 0);
    const uint64_t free0 = k.buddy.nr_free_pages();

    std::mt19937_64 rng(seed);
    std::vector<Block> blocks;
    std::vector<SlabObj> kobjs, cobjs;
    uint64_t held_pages = 0;
    // Alternate between filling memory (until 20 small page allocations in a row fail or the test
    // holds 99% of it, so that zones run into their watermarks, the slow path, highatomic
    // reserves and failures) and draining it (down to 20%).
    bool filling = true;
    unsigned fails_in_a_row = 0;
    const uint64_t held_cap = managed;
    const gfp_t gfps[] = {GFP_KERNEL, GFP_DMA, GFP_HIGHUSER_MOVABLE, GFP_ATOMIC};
    uint64_t n_alloc_ok = 0, n_alloc_fail = 0;

    auto held = [&] {
        std::vector<std::pair<uint64_t, unsigned>> h;
        for (const Block& b : blocks) h.push_back({pfn_of(k, b.p), b.order});
        return h;
    };

    for (unsigned step = 0; step < steps; step++) {
        if (held_pages > managed * 99 / 100 || fails_in_a_row >= 20) filling = false;
        if (held_pages < managed / 5 && !filling) {
            filling = true;
            fails_in_a_row = 0;
        }
        // Page allocations and frees take 55% of the steps: 45/10 while filling, 10/45 while
        // draining; kmalloc 15%, kfree 12%, cache alloc 10%, cache free 8%.
        const unsigned r = unsigned(rng() % 100);
        const unsigned page_alloc_pct = filling ? 45 : 10;
        const unsigned cpu = unsigned(rng() % ncpu);
        [&] {
            if (r < page_alloc_pct) {
                // Mostly small orders, some large ones.
                const unsigned order =
                    (rng() % 100 < 60) ? unsigned(rng() % 4) : unsigned(rng() % 11);
                const gfp_t gfp = gfps[rng() % 4];
                page* p = held_pages + (uint64_t{1} << order) > held_cap
                              ? nullptr
                              : k.buddy.alloc_pages(gfp, order, -1, cpu);
                if (p) {
                    blocks.push_back({p, order});
                    held_pages += uint64_t{1} << order;
                    n_alloc_ok++;
                    fails_in_a_row = 0;
                } else if (held_pages + (uint64_t{1} << order) <= held_cap) {
                    n_alloc_fail++;
                    if (order <= 3) fails_in_a_row++; // costly orders fail from fragmentation
                }
            } else if (r < 55) {
                if (blocks.empty()) return;
                const Block b = take_random(blocks, rng);
                held_pages -= uint64_t{1} << b.order;
                k.buddy.free_pages(b.p, b.order, cpu);
            } else if (r < 70) {
                const uint64_t size = 1 + rng() % 8192;
                const gfp_t gfp = (rng() % 10 == 0) ? (GFP_KERNEL | GFP_DMA) : GFP_KERNEL;
                if (const SlabObj o = k.slab.kmalloc(size, gfp, cpu); !o.null()) {
                    REQUIRE(o > ZERO_SIZE_PTR);
                    REQUIRE(k.slab.ksize(o) >= size);
                    kobjs.push_back(o);
                }
            } else if (r < 82) {
                if (kobjs.empty()) return;
                k.slab.kfree(take_random(kobjs, rng), cpu);
            } else if (r < 92) {
                if (const SlabObj o = k.slab.kmem_cache_alloc(cache, GFP_KERNEL, cpu); !o.null()) {
                    REQUIRE(k.slab.virt_to_cache(o) == cache);
                    cobjs.push_back(o);
                }
            } else {
                if (cobjs.empty()) return;
                k.slab.kmem_cache_free(cache, take_random(cobjs, rng), cpu);
            }
        }();
        if ((step + 1) % 1000 == 0) {
            INFO("step " << step + 1);
            REQUIRE(k.audit(held()) == "");
            const uint64_t slab_pages = k.slab.nr_slab_pages(false) + k.slab.nr_slab_pages(true);
            CHECK(k.buddy.nr_free_pages() + k.buddy.nr_pcp_pages() + held_pages + slab_pages ==
                  managed);
        }
    }
    // The run must have exercised both outcomes of alloc_pages.
    CHECK(n_alloc_ok > 1000);
    CHECK(n_alloc_fail > 0);
    // A correct workload never trips a debug check (poison, red zones, destroy).
    CHECK(k.slab.reports().empty());

    for (const Block& b : blocks) k.buddy.free_pages(b.p, b.order, 0);
    blocks.clear();
    for (SlabObj o : kobjs) k.slab.kfree(o, 0);
    for (SlabObj o : cobjs) k.slab.kmem_cache_free(cache, o, 0);
    kobjs.clear();
    cobjs.clear();
    settle();
    CHECK(k.audit({}) == "");
    CHECK(k.buddy.nr_pcp_pages() == 0);
    CHECK(k.buddy.nr_free_pages() == free0);
    const uint64_t slab_pages = k.slab.nr_slab_pages(false) + k.slab.nr_slab_pages(true);
    CHECK(k.buddy.nr_free_pages() + slab_pages == managed);
}

} // namespace

TEST_CASE("invariants: x86_64 128 MiB, 2 CPUs, pcp on", "[invariants]") {
    run_property(machine(Arch::x86_64, 128 * MiB, 2), 0x5eed0001);
}

TEST_CASE("invariants: i386 1536 MiB with HighMem, 2 CPUs", "[invariants]") {
    run_property(machine(Arch::i386, 1536 * MiB, 2), 0x5eed0002);
}

TEST_CASE("invariants: x86_64 2 nodes (512 MiB each), 2 CPUs", "[invariants]") {
    run_property(machine(Arch::x86_64, 1 * GiB, 2, {{0, 512 * MiB}, {512 * MiB, 1 * GiB}}),
                 0x5eed0003);
}

TEST_CASE("invariants: x86_64 128 MiB, 2 CPUs, every cache poisoned and red-zoned",
          "[invariants]") {
    KernelConfig kc;
    kc.slab_debug = SlabDebug::forced;
    run_property(machine(Arch::x86_64, 128 * MiB, 2), 0x5eed0004, kc);
}

// The audit itself must catch what it guards against: a frame nobody owns, a frame owned twice,
// a boot reservation that lost its PageReserved, and a free block whose page says otherwise.
TEST_CASE("invariants: the frame audit finds lost, doubly owned and mislabelled frames",
          "[invariants]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    Kernel& k = b.k;
    page* p = k.buddy.alloc_pages(GFP_KERNEL, 2, -1, 0);
    REQUIRE(p);
    const uint64_t pfn = k.buddy.mem_map().page_to_pfn(p).value;
    // Held and declared: consistent.
    CHECK(k.audit({{pfn, 2}}) == "");
    // Held but not declared: its 4 frames are lost.
    CHECK(k.audit({}).rfind("pfn " + std::to_string(pfn) + " is lost", 0) == 0);
    // Declared twice: owned twice.
    CHECK(k.audit({{pfn, 2}, {pfn, 0}}) ==
          "pfn " + std::to_string(pfn) + " is accounted to 2 owners: held [" + std::to_string(pfn) +
              ", " + std::to_string(pfn + 1) + ") and held [" + std::to_string(pfn) + ", " +
              std::to_string(pfn + 4) + ")");
    k.buddy.free_pages(p, 2, 0);
    CHECK(k.audit({}) == "");
    // Page 5 lies in the first MiB, reserved at boot: clearing PageReserved is caught.
    k.mem_map[Pfn{5}].clear(PG_reserved);
    CHECK(k.audit({}) == "pfn 5 was reserved at boot but is not PageReserved");
    k.mem_map[Pfn{5}].set(PG_reserved);
    CHECK(k.audit({}) == "");
    // A block on the DMA zone's order-10 movable list whose page says order 9.
    const zone& dma = b.z(0);
    const std::vector<uint64_t> heads = free_list_pfns(k, dma, 10, MIGRATE_MOVABLE);
    REQUIRE_FALSE(heads.empty());
    k.mem_map[Pfn{heads[0]}].private_ = 9;
    CHECK(k.audit({}) == "node 0 zone DMA: bad free block at pfn " + std::to_string(heads[0]));
    k.mem_map[Pfn{heads[0]}].private_ = 10;
    CHECK(k.audit({}) == "");
}
