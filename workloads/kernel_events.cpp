// Kernel events of the scenario language (docs/scenario-format.md): compiled to ops with every
// id and cache checked statically (a free of something never allocated, a double free, a use of
// a destroyed cache are compile errors).
#include <algorithm>
#include <map>
#include <set>

#include "mmcore/slab_geometry.h"
#include "workloads/scenario_parts.h"

namespace mmemu {

namespace {

uint32_t parse_slab_flags(Checker& ck, const json& obj, const std::string& path) {
    if (!obj.contains("flags")) return 0;
    static const std::map<std::string, uint32_t> names = {
        {"SLAB_HWCACHE_ALIGN", SLAB_HWCACHE_ALIGN},
        {"SLAB_POISON", SLAB_POISON},
        {"SLAB_RED_ZONE", SLAB_RED_ZONE},
        {"SLAB_CACHE_DMA", SLAB_CACHE_DMA},
        {"SLAB_RECLAIM_ACCOUNT", SLAB_RECLAIM_ACCOUNT},
        {"SLAB_PANIC", SLAB_PANIC},
    };
    std::vector<std::string> parts;
    const json& v = obj["flags"];
    if (v.is_string()) {
        std::string s = v.get<std::string>(), cur;
        for (char c : s + "|") {
            if (c == '|') {
                parts.push_back(cur);
                cur.clear();
            } else if (c != ' ') {
                cur += c;
            }
        }
    } else if (v.is_array()) {
        for (const auto& e : v) parts.push_back(e.is_string() ? e.get<std::string>() : "?");
    } else {
        ck.error(path + "/flags",
                 "expected SLAB flags such as \"SLAB_HWCACHE_ALIGN\", got " + type_name(v));
        return 0;
    }
    uint32_t flags = 0;
    for (const auto& p : parts) {
        if (p == "0") continue;
        auto it = names.find(p);
        if (it == names.end()) {
            ck.error(path + "/flags", "unknown SLAB flag '" + p +
                                          "' (expected SLAB_HWCACHE_ALIGN, "
                                          "SLAB_POISON, SLAB_RED_ZONE, SLAB_CACHE_DMA, "
                                          "SLAB_RECLAIM_ACCOUNT or SLAB_PANIC)");
            continue;
        }
        flags |= it->second;
    }
    return flags;
}

// Tracks what each id and cache name refers to while events are compiled, so a free of
// something never allocated, a double free or a use of a destroyed cache is a compile error.
struct Names {
    enum class State : uint8_t { live, freed };
    enum class Kind : uint8_t { pages, object, kmalloc };
    struct Handle {
        uint32_t slot;
        State state;
        Kind kind;
        uint32_t cache;
        size_t defined_at;
    };
    std::map<std::string, Handle> handles;
    struct Cache {
        uint32_t slot;
        bool destroyed;
        uint64_t size;
    };
    std::map<std::string, Cache> caches;
};

} // namespace

void parse_kernel_events(Checker& ck, const json& events, Scenario& sc) {
    Names names;
    const int max_cpu = int(sc.machine.nr_cpus) - 1;
    const int max_node = int(std::max<size_t>(1, sc.machine.nodes.size())) - 1;
    parse_event_list(
        ck, events, sc, "event",
        "alloc_pages, free_pages, kmem_cache_create, kmem_cache_alloc, "
        "kmem_cache_free, kmem_cache_shrink, kmem_cache_destroy, kmalloc, kfree, "
        "write_object, drain_pages or checkpoint",
        [&](const json& e, const std::string& p, const std::string& o, Op& op) -> bool {
            op.count = 1;
            auto cpu = [&] {
                if (auto c = ck.integer(e, p, "cpu", 0, max_cpu, 0)) op.cpu = uint16_t(*c);
            };
            auto count = [&] {
                if (auto c = ck.integer(e, p, "count", 1, 1 << 24, 1)) op.count = uint32_t(*c);
            };
            // A new id for an allocation.
            auto define = [&](Names::Kind kind, uint32_t cache) {
                auto id = ck.string(e, p, "id", std::nullopt);
                if (!id) return;
                auto it = names.handles.find(*id);
                if (it != names.handles.end() && it->second.state == Names::State::live) {
                    ck.error(p + "/id", "id \"" + *id + "\" still holds the allocation of event " +
                                            std::to_string(it->second.defined_at) +
                                            "; free it first or use a new id");
                    return;
                }
                uint32_t slot;
                if (it != names.handles.end()) {
                    slot = it->second.slot;
                } else {
                    slot = uint32_t(sc.handle_names.size());
                    sc.handle_names.push_back(*id);
                }
                names.handles[*id] = {slot, Names::State::live, kind, cache, op.event};
                op.handle = slot;
            };
            // An id being freed (or written to): it must hold a live allocation of an accepted
            // kind.
            auto use = [&](std::initializer_list<Names::Kind> accept, const char* what,
                           bool frees) -> Names::Handle* {
                auto id = ck.string(e, p, "id", std::nullopt);
                if (!id) return nullptr;
                auto it = names.handles.find(*id);
                if (it == names.handles.end()) {
                    ck.error(p + "/id", std::string("expected the id of ") + what + ", but \"" +
                                            *id + "\" was never allocated");
                    return nullptr;
                }
                if (it->second.state == Names::State::freed) {
                    ck.error(p + "/id", "\"" + *id + "\" was already freed (double free)");
                    return nullptr;
                }
                if (std::find(accept.begin(), accept.end(), it->second.kind) == accept.end()) {
                    ck.error(p + "/id", std::string("expected the id of ") + what + ", but \"" +
                                            *id + "\" was allocated by event " +
                                            std::to_string(it->second.defined_at) +
                                            ", another kind of allocation");
                    return nullptr;
                }
                if (frees) it->second.state = Names::State::freed;
                op.handle = it->second.slot;
                return &it->second;
            };
            auto cache_ref = [&](bool creating) -> Names::Cache* {
                auto name = ck.string(e, p, "cache", std::nullopt);
                if (!name) return nullptr;
                auto it = names.caches.find(*name);
                if (creating) {
                    if (it != names.caches.end() && !it->second.destroyed) {
                        ck.error(
                            p + "/cache",
                            "cache \"" + *name +
                                "\" already exists (kmem_cache_create refuses duplicate names)");
                        return nullptr;
                    }
                    if (name->rfind("kmalloc-", 0) == 0 || name->rfind("dma-kmalloc-", 0) == 0 ||
                        *name == "kmem_cache") {
                        ck.error(p + "/cache",
                                 "\"" + *name +
                                     "\" is the name of a cache the kernel creates at boot");
                        return nullptr;
                    }
                    uint32_t slot;
                    if (it != names.caches.end())
                        slot = it->second.slot;
                    else {
                        slot = uint32_t(sc.cache_names.size());
                        sc.cache_names.push_back(*name);
                    }
                    names.caches[*name] = {slot, false, 0};
                    op.cache = slot;
                    return &names.caches[*name];
                }
                if (it == names.caches.end()) {
                    ck.error(p + "/cache",
                             "expected a cache created by an earlier kmem_cache_create, got \"" +
                                 *name + "\"");
                    return nullptr;
                }
                if (it->second.destroyed) {
                    ck.error(p + "/cache",
                             "cache \"" + *name + "\" was destroyed by an earlier event");
                    return nullptr;
                }
                op.cache = it->second.slot;
                return &it->second;
            };

            if (o == "alloc_pages") {
                op.kind = OpKind::alloc_pages;
                ck.only(e, p, {"op", "id", "order", "gfp", "node", "cpu", "count"});
                if (auto v = ck.integer(e, p, "order", 0, MAX_ORDER - 1, 0)) op.order = uint8_t(*v);
                if (auto g = ck.gfp(e, p, "gfp", "GFP_KERNEL")) op.gfp = *g;
                if (auto v = ck.integer(e, p, "node", -1, max_node, -1)) op.node = int16_t(*v);
                cpu();
                count();
                define(Names::Kind::pages, 0);
            } else if (o == "free_pages") {
                op.kind = OpKind::free_pages;
                ck.only(e, p, {"op", "id", "cpu"});
                cpu();
                use({Names::Kind::pages}, "an alloc_pages event", true);
            } else if (o == "kmem_cache_create") {
                op.kind = OpKind::kmem_cache_create;
                ck.only(e, p, {"op", "cache", "size", "align", "flags", "ctor_fill", "cpu"});
                auto c = cache_ref(true);
                // kmem_cache_create() BUGs on objects smaller than a word.
                const int64_t word = sc.machine.arch == Arch::x86_64 ? 8 : 4;
                if (auto v =
                        ck.integer(e, p, "size", word, int64_t(KMALLOC_MAX_SIZE), std::nullopt)) {
                    op.size = uint64_t(*v);
                    if (c) c->size = op.size;
                }
                if (auto v = ck.integer(e, p, "align", 0, 4096, 0)) {
                    if (*v & (*v - 1))
                        ck.error(p + "/align",
                                 "expected 0 or a power of two, got " + std::to_string(*v));
                    op.align = uint64_t(*v);
                }
                op.flags = parse_slab_flags(ck, e, p);
                if (e.contains("ctor_fill")) {
                    if (auto v = ck.integer(e, p, "ctor_fill", 0, 255, std::nullopt)) {
                        op.fill = uint8_t(*v);
                        op.has_ctor = true;
                    }
                }
                cpu();
            } else if (o == "kmem_cache_alloc") {
                op.kind = OpKind::kmem_cache_alloc;
                ck.only(e, p, {"op", "cache", "id", "gfp", "cpu", "count"});
                auto c = cache_ref(false);
                if (auto g = ck.gfp(e, p, "gfp", "GFP_KERNEL")) op.gfp = *g;
                cpu();
                count();
                define(Names::Kind::object, c ? c->slot : 0);
            } else if (o == "kmem_cache_free") {
                op.kind = OpKind::kmem_cache_free;
                ck.only(e, p, {"op", "cache", "id", "cpu"});
                cpu();
                if (auto h = use({Names::Kind::object}, "a kmem_cache_alloc event", true)) {
                    op.cache = h->cache;
                    if (e.contains("cache")) {
                        auto c = cache_ref(false);
                        if (c && c->slot != h->cache)
                            ck.error(p + "/cache", "the object was allocated from cache \"" +
                                                       sc.cache_names[h->cache] + "\"");
                    }
                }
            } else if (o == "kmem_cache_shrink" || o == "kmem_cache_destroy") {
                op.kind = o == "kmem_cache_shrink" ? OpKind::kmem_cache_shrink
                                                   : OpKind::kmem_cache_destroy;
                ck.only(e, p, {"op", "cache", "cpu"});
                auto c = cache_ref(false);
                if (c && op.kind == OpKind::kmem_cache_destroy) c->destroyed = true;
                cpu();
            } else if (o == "kmalloc") {
                op.kind = OpKind::kmalloc;
                ck.only(e, p, {"op", "id", "size", "gfp", "cpu", "count"});
                if (auto v = ck.integer(e, p, "size", 0, int64_t(1) << 40, std::nullopt))
                    op.size = uint64_t(*v);
                if (auto g = ck.gfp(e, p, "gfp", "GFP_KERNEL")) {
                    op.gfp = *g;
                    if (*g & (__GFP_HIGHMEM | __GFP_DMA32))
                        ck.error(p + "/gfp", "kmalloc takes no __GFP_HIGHMEM or __GFP_DMA32 (slab "
                                             "memory must be in the direct map)");
                }
                cpu();
                count();
                define(Names::Kind::kmalloc, 0);
            } else if (o == "kfree") {
                op.kind = OpKind::kfree;
                ck.only(e, p, {"op", "id", "cpu"});
                cpu();
                use({Names::Kind::kmalloc, Names::Kind::object},
                    "a kmalloc or kmem_cache_alloc event", true);
            } else if (o == "write_object") {
                op.kind = OpKind::write_object;
                ck.only(e, p, {"op", "id", "offset", "length", "byte"});
                use({Names::Kind::kmalloc, Names::Kind::object},
                    "a kmalloc or kmem_cache_alloc event", false);
                if (auto v = ck.integer(e, p, "offset", 0, 1 << 22, 0)) op.offset = uint64_t(*v);
                if (auto v = ck.integer(e, p, "length", 1, 1 << 22, std::nullopt))
                    op.size = uint64_t(*v);
                if (auto v = ck.integer(e, p, "byte", 0, 255, std::nullopt)) op.fill = uint8_t(*v);
            } else if (o == "drain_pages") {
                op.kind = OpKind::drain_pages;
                ck.only(e, p, {"op"});
            } else {
                return false;
            }
            return true;
        });
}

} // namespace mmemu
