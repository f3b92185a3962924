// The kernel allocator op family: for each op its fields, parse and validation, and what it
// does, side by side. Every op runs as the named kernel function does on the emulated kernel.
#include "workloads/ops_kernel.h"

#include <algorithm>

#include "mmcore/kernel.h"
#include "mmcore/slab_geometry.h"
#include "system/system.h"
#include "workloads/results.h"

namespace mmemu {

std::vector<std::pair<uint64_t, unsigned>> KernelRunState::held_blocks() const {
    std::vector<std::pair<uint64_t, unsigned>> out;
    for (const auto& s : slots)
        if (s.pages)
            for (uint64_t pfn : s.items) out.push_back({pfn, s.order});
    return out;
}

namespace {

// ---- Shared field declarations ----------------------------------------------------------------

const FieldSpec F_ID{"id", FieldKind::string, true, 0, 0, {}, "names the allocation"};
const FieldSpec F_CACHE{"cache", FieldKind::string, true, 0, 0, {}, "a cache's name"};
const FieldSpec F_CPU{
    "cpu", FieldKind::integer, false, 0, 63, {}, "the CPU it runs on (default 0)"};
const FieldSpec F_GFP{"gfp", FieldKind::gfp, false, 0, 0, {}, "GFP flags (default GFP_KERNEL)"};
const FieldSpec F_COUNT{
    "count", FieldKind::integer, false, 1, 1 << 24, {}, "how many allocations (default 1)"};

// The most live allocations a scenario may make in all (the sum of the counts of its
// allocating events): the driver keeps one handle per block or object.
constexpr uint64_t MAX_TOTAL_ALLOCATIONS = uint64_t{1} << 26;

KernelNames& names(OpParser& p) {
    if (!p.state.kernel_names) p.state.kernel_names = std::make_shared<KernelNames>();
    return *p.state.kernel_names;
}

uint32_t count_of(OpParser& p) {
    const uint32_t n = uint32_t(p.integer("count", 1).value_or(1));
    p.state.total_allocations += n;
    if (p.state.total_allocations > MAX_TOTAL_ALLOCATIONS)
        p.error("count", "expected at most " + std::to_string(MAX_TOTAL_ALLOCATIONS) +
                             " allocations in the whole scenario (the sum of every count), got " +
                             std::to_string(p.state.total_allocations) + " so far");
    return n;
}

// The slot a name had before (an id or cache name reused after a free or destroy keeps its
// slot), or a new one.
template <class Map>
uint32_t slot_of(const Map& m, typename Map::const_iterator it, std::vector<std::string>& names,
                 const std::string& name) {
    if (it != m.end()) return it->second.slot;
    names.push_back(name);
    return uint32_t(names.size() - 1);
}

// A new id for an allocation.
uint32_t define(OpParser& p, KernelNames::Kind kind, uint32_t cache, bool zero_size = false) {
    KernelNames& n = names(p);
    auto id = p.string("id", std::nullopt);
    if (!id) return 0;
    auto it = n.handles.find(*id);
    if (it != n.handles.end() && it->second.state == KernelNames::State::live) {
        p.error("id", "id \"" + *id + "\" still holds the allocation of event " +
                          std::to_string(it->second.event) + "; free it first or use a new id");
        return 0;
    }
    const uint32_t slot = slot_of(n.handles, it, n.handle_names, *id);
    n.handles[*id] = {slot, KernelNames::State::live, kind, cache, p.index, zero_size};
    return slot;
}

// An id being freed or written to: it must hold a live allocation of an accepted kind.
const KernelNames::Handle* use(OpParser& p, std::initializer_list<KernelNames::Kind> accept,
                               const char* what, bool frees) {
    KernelNames& n = names(p);
    auto id = p.string("id", std::nullopt);
    if (!id) return nullptr;
    auto it = n.handles.find(*id);
    if (it == n.handles.end()) {
        p.error("id", std::string("expected the id of ") + what + ", but \"" + *id +
                          "\" was never allocated");
        return nullptr;
    }
    if (it->second.state == KernelNames::State::freed) {
        p.error("id", "\"" + *id + "\" was already freed (" +
                          (frees ? "double free" : "use after free") + ")");
        return nullptr;
    }
    if (std::find(accept.begin(), accept.end(), it->second.kind) == accept.end()) {
        p.error("id", std::string("expected the id of ") + what + ", but \"" + *id +
                          "\" was allocated by event " + std::to_string(it->second.event) +
                          ", another kind of allocation");
        return nullptr;
    }
    if (frees) it->second.state = KernelNames::State::freed;
    return &it->second;
}

KernelNames::Cache* cache_ref(OpParser& p, bool creating) {
    KernelNames& n = names(p);
    auto name = p.string("cache", std::nullopt);
    if (!name) return nullptr;
    auto it = n.caches.find(*name);
    if (creating) {
        if (it != n.caches.end() && !it->second.destroyed) {
            p.error("cache", "cache \"" + *name +
                                 "\" already exists (kmem_cache_create refuses duplicate names)");
            return nullptr;
        }
        if (name->empty()) {
            p.error("cache", "expected a non-empty cache name");
            return nullptr;
        }
        if (name->rfind("kmalloc-", 0) == 0 || name->rfind("dma-kmalloc-", 0) == 0 ||
            *name == "kmem_cache") {
            p.error("cache", "\"" + *name + "\" is the name of a cache the kernel creates at boot");
            return nullptr;
        }
        n.caches[*name] = {slot_of(n.caches, it, n.cache_names, *name), false};
        return &n.caches[*name];
    }
    if (it == n.caches.end()) {
        p.error("cache",
                "expected a cache created by an earlier kmem_cache_create, got \"" + *name + "\"");
        return nullptr;
    }
    if (it->second.destroyed) {
        p.error("cache", "cache \"" + *name + "\" was destroyed by an earlier event");
        return nullptr;
    }
    return &it->second;
}

const char* failure_reason(AllocFailure f) {
    switch (f) {
    case AllocFailure::oom:
        return "out of memory: nothing to reclaim, and the OOM killer freed nothing for it";
    case AllocFailure::watermark: return "no zone above its watermark";
    case AllocFailure::no_free_block: return "no free block of that order";
    case AllocFailure::none: break;
    }
    return "failed";
}

Kernel& kernel(RunContext& cx) {
    return cx.sys.kernel();
}
const std::string& id_name(RunContext& cx, uint32_t slot) {
    return cx.kernel->names->handle_names[slot];
}
const std::string& cache_name(RunContext& cx, uint32_t slot) {
    return cx.kernel->names->cache_names[slot];
}
// The scenario's call site for SLAB_STORE_USER: the event number + 1.
uint64_t caller(const Op& op) {
    return uint64_t(op.event) + 1;
}

// The tries of one counted allocation event. The reason of a failure depends on the event and
// on why the allocator failed, so a try that fails as the one before it did is counted in that
// try's record without formatting the reason again (a count of millions makes one record).
struct RepeatedFailures {
    bool failed_before = false;
    AllocFailure why_before = AllocFailure::none;
    // True when try `i` failed as try i - 1 did and was counted in its record.
    bool counted(RunContext& cx, uint32_t event, uint32_t i, bool failed, AllocFailure why) {
        const bool same = i && failed && failed_before && why == why_before;
        failed_before = failed;
        why_before = failed ? why : AllocFailure::none;
        return same && cx.results.repeat_failure(event, i);
    }
};

// ---- alloc_pages / free_pages ---------------------------------------------------------------

struct AllocPages final : Op {
    uint32_t slot = 0, count = 1;
    gfp_t gfp = 0;
    int16_t node = -1;
    uint16_t cpu = 0;
    uint8_t order = 0;
    const char* name() const override { return "alloc_pages"; }
    void run(RunContext& cx) const override {
        Kernel& k = kernel(cx);
        auto& s = cx.kernel->slots[slot];
        s.items.clear();
        s.order = order;
        s.pages = true;
        RepeatedFailures repeats;
        for (uint32_t i = 0; i < count; i++) {
            page* pg = k.buddy.alloc_pages(gfp, order, node, cpu);
            if (repeats.counted(cx, event, i, !pg, k.buddy.last_failure())) continue;
            if (!pg) {
                cx.results.failure(event, name(), id_name(cx, slot), false,
                                   std::string("alloc_pages(") + gfp_to_string(gfp) + ", order " +
                                       std::to_string(order) +
                                       "): " + failure_reason(k.buddy.last_failure()),
                                   i);
                continue;
            }
            s.items.push_back(k.mem_map.page_to_pfn(pg).value);
        }
    }
};

std::unique_ptr<Op> parse_alloc_pages(OpParser& p) {
    auto op = std::make_unique<AllocPages>();
    const int max_node = int(std::max<size_t>(1, p.state.machine->nodes.size())) - 1;
    op->order = uint8_t(p.integer("order", 0).value_or(0));
    op->gfp = p.gfp("gfp", "GFP_KERNEL").value_or(0);
    if (auto n = p.integer("node", -1)) {
        if (*n > max_node)
            p.error("node", "expected -1 or a node of the machine (0 to " +
                                std::to_string(max_node) + "), got " + std::to_string(*n));
        op->node = int16_t(*n);
    }
    op->cpu = p.cpu();
    op->count = count_of(p);
    op->slot = define(p, KernelNames::Kind::pages, 0);
    return op;
}

struct FreePages final : Op {
    uint32_t slot = 0;
    uint16_t cpu = 0;
    const char* name() const override { return "free_pages"; }
    void run(RunContext& cx) const override {
        Kernel& k = kernel(cx);
        auto& s = cx.kernel->slots[slot];
        for (uint64_t pfn : s.items)
            k.buddy.free_pages(k.mem_map.pfn_to_page(Pfn{pfn}), s.order, cpu);
        s.items.clear();
    }
};

std::unique_ptr<Op> parse_free_pages(OpParser& p) {
    auto op = std::make_unique<FreePages>();
    op->cpu = p.cpu();
    if (auto h = use(p, {KernelNames::Kind::pages}, "an alloc_pages event", true))
        op->slot = h->slot;
    return op;
}

// ---- caches ----------------------------------------------------------------------------------

// SLAB flags by name (include/linux/slab.h, 2.6 values).
uint32_t parse_slab_flags(OpParser& p) {
    const json* v = p.raw("flags");
    if (!v) return 0;
    static const std::pair<const char*, uint32_t> names[] = {
        {"SLAB_HWCACHE_ALIGN", SLAB_HWCACHE_ALIGN},
        {"SLAB_POISON", SLAB_POISON},
        {"SLAB_RED_ZONE", SLAB_RED_ZONE},
        {"SLAB_STORE_USER", SLAB_STORE_USER},
        {"SLAB_CACHE_DMA", SLAB_CACHE_DMA},
        {"SLAB_RECLAIM_ACCOUNT", SLAB_RECLAIM_ACCOUNT},
        {"SLAB_PANIC", SLAB_PANIC},
    };
    std::vector<std::string> parts;
    if (v->is_string()) {
        std::string cur;
        for (char c : v->get<std::string>() + "|") {
            if (c == '|') {
                parts.push_back(cur);
                cur.clear();
            } else if (c != ' ') {
                cur += c;
            }
        }
    } else if (v->is_array()) {
        for (size_t i = 0; i < v->size(); i++) {
            if (!(*v)[i].is_string()) {
                p.ck.error(p.field_path("flags") + "/" + std::to_string(i),
                           "expected SLAB flag names, got " + type_name((*v)[i]));
                return 0;
            }
            parts.push_back((*v)[i].get<std::string>());
        }
    } else {
        p.error("flags",
                "expected SLAB flags such as \"SLAB_HWCACHE_ALIGN\", got " + type_name(*v));
        return 0;
    }
    uint32_t flags = 0;
    for (const auto& part : parts) {
        if (part == "0") continue;
        bool known = false;
        for (const auto& [n, bit] : names)
            if (part == n) {
                flags |= bit;
                known = true;
            }
        if (!known)
            p.error("flags", "unknown SLAB flag '" + part +
                                 "' (expected SLAB_HWCACHE_ALIGN, SLAB_POISON, SLAB_RED_ZONE, "
                                 "SLAB_STORE_USER, SLAB_CACHE_DMA, SLAB_RECLAIM_ACCOUNT or "
                                 "SLAB_PANIC)");
    }
    return flags;
}

struct KmemCacheCreate final : Op {
    uint32_t cache = 0, flags = 0;
    uint64_t size = 0, align = 0;
    std::optional<uint8_t> ctor_fill;
    uint16_t cpu = 0;
    const char* name() const override { return "kmem_cache_create"; }
    void run(RunContext& cx) const override {
        std::string err;
        kmem_cache* c = kernel(cx).slab.kmem_cache_create(cache_name(cx, cache), size, align, flags,
                                                          ctor_fill, err, cpu);
        cx.kernel->caches[cache] = c;
        if (!c)
            cx.results.failure(event, name(), cache_name(cx, cache), true,
                               "kmem_cache_create(\"" + cache_name(cx, cache) + "\"): " + err);
    }
};

std::unique_ptr<Op> parse_kmem_cache_create(OpParser& p) {
    auto op = std::make_unique<KmemCacheCreate>();
    if (auto c = cache_ref(p, true)) op->cache = c->slot;
    // kmem_cache_create() BUGs on objects smaller than a word.
    const int64_t word = p.state.machine->arch == Arch::x86_64 ? 8 : 4;
    if (auto v = p.integer("size", std::nullopt)) {
        if (*v < word)
            p.error("size", "expected at least " + std::to_string(word) +
                                " bytes (a word: kmem_cache_create() BUGs on smaller objects), "
                                "got " +
                                std::to_string(*v));
        op->size = uint64_t(*v);
    }
    if (auto v = p.integer("align", 0)) {
        if (*v & (*v - 1))
            p.error("align", "expected 0 or a power of two, got " + std::to_string(*v));
        op->align = uint64_t(*v);
    }
    op->flags = parse_slab_flags(p);
    if (p.has("ctor_fill"))
        if (auto v = p.integer("ctor_fill", std::nullopt)) op->ctor_fill = uint8_t(*v);
    op->cpu = p.cpu();
    return op;
}

struct KmemCacheShrink final : Op {
    uint32_t cache = 0;
    uint16_t cpu = 0;
    bool destroy = false;
    const char* name() const override {
        return destroy ? "kmem_cache_destroy" : "kmem_cache_shrink";
    }
    void run(RunContext& cx) const override {
        kmem_cache* c = cx.kernel->caches[cache];
        if (!c) return; // its kmem_cache_create failed (recorded there)
        if (!destroy) {
            kernel(cx).slab.kmem_cache_shrink(c, cpu);
            return;
        }
        if (kernel(cx).slab.kmem_cache_destroy(c, cpu))
            cx.kernel->caches[cache] = nullptr;
        else
            cx.results.failure(event, name(), cache_name(cx, cache), true,
                               "kmem_cache_destroy(\"" + cache_name(cx, cache) +
                                   "\"): objects are still allocated; the cache is kept");
    }
};

std::unique_ptr<Op> parse_cache_op(OpParser& p, bool destroy) {
    auto op = std::make_unique<KmemCacheShrink>();
    op->destroy = destroy;
    if (auto c = cache_ref(p, false)) {
        op->cache = c->slot;
        if (destroy) c->destroyed = true;
    }
    op->cpu = p.cpu();
    return op;
}
std::unique_ptr<Op> parse_kmem_cache_shrink(OpParser& p) {
    return parse_cache_op(p, false);
}
std::unique_ptr<Op> parse_kmem_cache_destroy(OpParser& p) {
    return parse_cache_op(p, true);
}

// ---- objects ---------------------------------------------------------------------------------

struct ObjectAlloc final : Op {
    uint32_t slot = 0, count = 1;
    int64_t cache = -1; // kmem_cache_alloc: the cache slot; -1: kmalloc
    uint64_t size = 0;  // kmalloc
    gfp_t gfp = 0;
    uint16_t cpu = 0;
    const char* name() const override { return cache >= 0 ? "kmem_cache_alloc" : "kmalloc"; }
    void run(RunContext& cx) const override {
        Kernel& k = kernel(cx);
        auto& s = cx.kernel->slots[slot];
        s.items.clear();
        s.pages = false;
        kmem_cache* c = cache >= 0 ? cx.kernel->caches[size_t(cache)] : nullptr;
        RepeatedFailures repeats;
        for (uint32_t i = 0; i < count; i++) {
            SlabObj obj;
            if (cache < 0)
                obj = k.slab.kmalloc(size, gfp, cpu, caller(*this));
            else if (c)
                obj = k.slab.kmem_cache_alloc(c, gfp, cpu, caller(*this));
            if (repeats.counted(cx, event, i, obj.null(), k.buddy.last_failure())) continue;
            if (!obj.null()) {
                s.items.push_back(obj.value);
                continue;
            }
            const std::string why =
                cache < 0 && size > KMALLOC_MAX_SIZE
                    ? "kmalloc(" + std::to_string(size) + "): larger than KMALLOC_MAX_SIZE (4 MiB)"
                : cache >= 0 && !c
                    ? std::string("the cache was never created (its kmem_cache_create failed)")
                    : std::string(name()) + ": " + failure_reason(k.buddy.last_failure());
            cx.results.failure(event, name(), id_name(cx, slot), false, why, i);
        }
    }
};

std::unique_ptr<Op> parse_kmem_cache_alloc(OpParser& p) {
    auto op = std::make_unique<ObjectAlloc>();
    const KernelNames::Cache* c = cache_ref(p, false);
    op->cache = c ? int64_t(c->slot) : 0;
    op->gfp = p.gfp("gfp", "GFP_KERNEL").value_or(0);
    op->cpu = p.cpu();
    op->count = count_of(p);
    op->slot = define(p, KernelNames::Kind::object, c ? c->slot : 0);
    return op;
}

std::unique_ptr<Op> parse_kmalloc(OpParser& p) {
    auto op = std::make_unique<ObjectAlloc>();
    op->cache = -1;
    if (auto v = p.integer("size", std::nullopt)) op->size = uint64_t(*v);
    if (auto g = p.gfp("gfp", "GFP_KERNEL")) {
        op->gfp = *g;
        if (*g & (__GFP_HIGHMEM | __GFP_DMA32))
            p.error("gfp", "kmalloc takes no __GFP_HIGHMEM or __GFP_DMA32 (slab memory must be in "
                           "the direct map)");
    }
    op->cpu = p.cpu();
    op->count = count_of(p);
    op->slot = define(p, KernelNames::Kind::kmalloc, 0, op->size == 0);
    return op;
}

struct ObjectFree final : Op {
    uint32_t slot = 0;
    uint16_t cpu = 0;
    bool kfree = false;
    const char* name() const override { return kfree ? "kfree" : "kmem_cache_free"; }
    void run(RunContext& cx) const override {
        auto& s = cx.kernel->slots[slot];
        for (uint64_t obj : s.items) kernel(cx).slab.kfree(SlabObj{obj}, cpu, caller(*this));
        s.items.clear();
    }
};

std::unique_ptr<Op> parse_kmem_cache_free(OpParser& p) {
    auto op = std::make_unique<ObjectFree>();
    op->cpu = p.cpu();
    const KernelNames::Handle* h =
        use(p, {KernelNames::Kind::object}, "a kmem_cache_alloc event", true);
    if (h) {
        op->slot = h->slot;
        if (p.has("cache")) {
            const KernelNames::Cache* c = cache_ref(p, false);
            if (c && c->slot != h->cache)
                p.error("cache", "the object was allocated from cache \"" +
                                     names(p).cache_names[h->cache] + "\"");
        }
    }
    return op;
}

std::unique_ptr<Op> parse_kfree(OpParser& p) {
    auto op = std::make_unique<ObjectFree>();
    op->kfree = true;
    op->cpu = p.cpu();
    if (auto h = use(p, {KernelNames::Kind::kmalloc, KernelNames::Kind::object},
                     "a kmalloc or kmem_cache_alloc event", true))
        op->slot = h->slot;
    return op;
}

// Kernel code writing `length` bytes of `byte` at the id's first object + `offset`. It may run
// past the object (how red zones are exercised), and so corrupt the neighbouring objects and a
// slab's management: the slab allocator's checks then stop the run with the kernel's BUG.
struct WriteObject final : Op {
    uint32_t slot = 0;
    uint64_t offset = 0, length = 0;
    uint8_t byte = 0;
    const char* name() const override { return "write_object"; }
    void run(RunContext& cx) const override {
        const auto& s = cx.kernel->slots[slot];
        if (s.items.empty()) {
            // The allocation failed (recorded at its event): a write through the NULL it returned
            // would oops the kernel; mmemu records it instead.
            cx.results.failure(event, name(), id_name(cx, slot), false,
                               "write_object: the id holds no object (its allocation failed)");
            return;
        }
        PhysicalMemory& ram = cx.sys.machine().ram();
        const PhysAddr at{s.items.front() + offset};
        if (!ram.contains(at, length)) {
            cx.results.failure(event, name(), id_name(cx, slot), false,
                               "write_object: the range runs beyond physical memory");
            return;
        }
        ram.fill(at, byte, length);
        if (length && !cx.results.scribbled_at) {
            const MemMap& mm = cx.sys.kernel().mem_map;
            for (uint64_t pfn = at.value >> PAGE_SHIFT;
                 pfn <= (at.value + length - 1) >> PAGE_SHIFT; pfn++)
                if (!mm.pfn_to_page(Pfn{pfn})->test(PG_slab)) {
                    cx.results.scribbled_at = event;
                    break;
                }
        }
    }
};

std::unique_ptr<Op> parse_write_object(OpParser& p) {
    auto op = std::make_unique<WriteObject>();
    if (auto h = use(p, {KernelNames::Kind::kmalloc, KernelNames::Kind::object},
                     "a kmalloc or kmem_cache_alloc event", false)) {
        op->slot = h->slot;
        if (h->zero_size)
            p.error("id", "the id holds ZERO_SIZE_PTR (kmalloc of 0 bytes): a write through it "
                          "would oops the kernel");
    }
    op->offset = uint64_t(p.integer("offset", 0).value_or(0));
    op->length = uint64_t(p.integer("length", std::nullopt).value_or(0));
    op->byte = uint8_t(p.integer("byte", std::nullopt).value_or(0));
    return op;
}

struct DrainPages final : Op {
    const char* name() const override { return "drain_pages"; }
    void run(RunContext& cx) const override { kernel(cx).buddy.drain_all_pages(); }
};

std::unique_ptr<Op> parse_drain_pages(OpParser&) {
    return std::make_unique<DrainPages>();
}

} // namespace

const std::vector<OpSpec>& kernel_op_specs() {
    static const std::vector<OpSpec> specs = {
        {"alloc_pages",
         OpMode::kernel,
         {F_ID,
          {"order", FieldKind::integer, false, 0, MAX_ORDER - 1, {}, "the order (default 0)"},
          F_GFP,
          {"node", FieldKind::integer, false, -1, 7, {}, "the preferred node (default: the CPU's)"},
          F_CPU,
          F_COUNT},
         parse_alloc_pages,
         "alloc_pages_node(): blocks of 2^order pages; a failure is a result"},
        {"free_pages",
         OpMode::kernel,
         {F_ID, F_CPU},
         parse_free_pages,
         "__free_pages() of every block of the id"},
        {"kmem_cache_create",
         OpMode::kernel,
         {F_CACHE,
          {"size",
           FieldKind::integer,
           true,
           4,
           int64_t(KMALLOC_MAX_SIZE),
           {},
           "object size: at least a word (BYTES_PER_WORD: 4 on i386 and PAE, 8 on x86_64)"},
          {"align", FieldKind::integer, false, 0, 4096, {}, "0 or a power of two"},
          {"flags", FieldKind::slab_flags, false, 0, 0, {}, "SLAB_* flags"},
          {"ctor_fill",
           FieldKind::integer,
           false,
           0,
           255,
           {},
           "a constructor that fills each object with this byte"},
          F_CPU},
         parse_kmem_cache_create,
         "kmem_cache_create()"},
        {"kmem_cache_alloc",
         OpMode::kernel,
         {F_CACHE, F_ID, F_GFP, F_CPU, F_COUNT},
         parse_kmem_cache_alloc,
         "kmem_cache_alloc()"},
        {"kmem_cache_free",
         OpMode::kernel,
         {F_ID,
          {"cache", FieldKind::string, false, 0, 0, {}, "checked against the id's cache"},
          F_CPU},
         parse_kmem_cache_free,
         "kmem_cache_free() of every object of the id"},
        {"kmem_cache_shrink",
         OpMode::kernel,
         {F_CACHE, F_CPU},
         parse_kmem_cache_shrink,
         "kmem_cache_shrink()"},
        {"kmem_cache_destroy",
         OpMode::kernel,
         {F_CACHE, F_CPU},
         parse_kmem_cache_destroy,
         "kmem_cache_destroy(); with objects allocated the kernel keeps the cache (a result)"},
        {"kmalloc",
         OpMode::kernel,
         {F_ID,
          {"size", FieldKind::integer, true, 0, int64_t(1) << 40, {}, "bytes"},
          F_GFP,
          F_CPU,
          F_COUNT},
         parse_kmalloc,
         "kmalloc(): 0 bytes gives ZERO_SIZE_PTR, above 4 MiB fails"},
        {"kfree", OpMode::kernel, {F_ID, F_CPU}, parse_kfree, "kfree() of every object of the id"},
        {"write_object",
         OpMode::kernel,
         {F_ID,
          {"offset", FieldKind::integer, false, 0, 1 << 22, {}, "from the first object"},
          {"length", FieldKind::integer, true, 1, 1 << 22, {}, "bytes to write"},
          {"byte", FieldKind::integer, true, 0, 255, {}, "the value written"}},
         parse_write_object,
         "kernel code writing bytes at an object; it may run past the object"},
        {"drain_pages",
         OpMode::kernel,
         {},
         parse_drain_pages,
         "drain_all_pages(): every pcp list back to the buddy lists"},
    };
    return specs;
}

} // namespace mmemu
