#include "workloads/scenario.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "mmcore/slab_geometry.h"

namespace mmemu {

using json = nlohmann::json;

std::optional<uint64_t> parse_size(const std::string& text, std::string& error) {
    size_t i = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) i++;
    if (i == 0) {
        error = "a size such as \"4GiB\", \"512MiB\" or a number of bytes, got \"" + text + "\"";
        return std::nullopt;
    }
    if (i > 19) {
        error = "a size that fits in 64 bits, got \"" + text + "\"";
        return std::nullopt;
    }
    const uint64_t n = std::stoull(text.substr(0, i));
    std::string unit = text.substr(i);
    while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
    static const std::map<std::string, uint64_t> units = {
        {"", 1},
        {"B", 1},
        {"KiB", uint64_t{1} << 10},
        {"MiB", uint64_t{1} << 20},
        {"GiB", uint64_t{1} << 30},
        {"TiB", uint64_t{1} << 40},
        {"K", uint64_t{1} << 10},
        {"M", uint64_t{1} << 20},
        {"G", uint64_t{1} << 30},
        {"T", uint64_t{1} << 40},
        {"kB", 1000},
        {"MB", 1000 * 1000},
        {"GB", 1000ull * 1000 * 1000},
        {"TB", 1000ull * 1000 * 1000 * 1000},
    };
    auto it = units.find(unit);
    if (it == units.end()) {
        error =
            "a size unit (B, KiB, MiB, GiB, TiB, K, M, G, T, kB, MB, GB, TB), got \"" + unit + "\"";
        return std::nullopt;
    }
    if (n && it->second > UINT64_MAX / n) {
        error = "a size that fits in 64 bits, got \"" + text + "\"";
        return std::nullopt;
    }
    return n * it->second;
}

std::string format_diagnostic(const std::string& file, const Diagnostic& d) {
    return file + ": " + (d.path.empty() ? std::string("(document)") : d.path) + ": " + d.message;
}

namespace {

std::string type_name(const json& v) {
    switch (v.type()) {
    case json::value_t::null:
        return "null";
    case json::value_t::object:
        return "an object";
    case json::value_t::array:
        return "an array";
    case json::value_t::string:
        return "the string " + v.dump();
    case json::value_t::boolean:
        return v.dump();
    case json::value_t::number_float:
        return "the number " + v.dump();
    default:
        return "the number " + v.dump();
    }
}

// Collects diagnostics while walking the document.
class Checker {
public:
    std::vector<Diagnostic> errors;

    void error(const std::string& path, std::string msg) {
        errors.push_back({path, std::move(msg)});
    }

    // Reports members of `obj` not in `known`.
    void only(const json& obj, const std::string& path, std::initializer_list<const char*> known) {
        for (auto it = obj.begin(); it != obj.end(); ++it) {
            bool ok = false;
            for (const char* k : known) ok |= it.key() == k;
            if (!ok) {
                std::string list;
                for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
                error(path + "/" + it.key(), "unknown field (expected one of: " + list + ")");
            }
        }
    }

    std::optional<int64_t> integer(const json& obj, const std::string& path, const char* key,
                                   int64_t lo, int64_t hi, std::optional<int64_t> dflt) {
        if (!obj.contains(key)) {
            if (!dflt) error(path + "/" + key, "required field is missing (expected an integer)");
            return dflt;
        }
        const json& v = obj[key];
        if (!v.is_number_integer()) {
            error(path + "/" + key, "expected an integer from " + std::to_string(lo) + " to " +
                                        std::to_string(hi) + ", got " + type_name(v));
            return std::nullopt;
        }
        int64_t x;
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
            x = INT64_MAX;
        else
            x = v.get<int64_t>();
        if (x < lo || x > hi) {
            error(path + "/" + key, "expected an integer from " + std::to_string(lo) + " to " +
                                        std::to_string(hi) + ", got " + v.dump());
            return std::nullopt;
        }
        return x;
    }

    std::optional<std::string> string(const json& obj, const std::string& path, const char* key,
                                      std::optional<std::string> dflt) {
        if (!obj.contains(key)) {
            if (!dflt) error(path + "/" + key, "required field is missing (expected a string)");
            return dflt;
        }
        const json& v = obj[key];
        if (!v.is_string()) {
            error(path + "/" + key, "expected a string, got " + type_name(v));
            return std::nullopt;
        }
        return v.get<std::string>();
    }

    std::optional<bool> boolean(const json& obj, const std::string& path, const char* key,
                                bool dflt) {
        if (!obj.contains(key)) return dflt;
        const json& v = obj[key];
        if (!v.is_boolean()) {
            error(path + "/" + key, "expected true or false, got " + type_name(v));
            return std::nullopt;
        }
        return v.get<bool>();
    }

    // A size: integer bytes or a string with a unit.
    std::optional<uint64_t> size(const json& obj, const std::string& path, const char* key,
                                 std::optional<uint64_t> dflt) {
        if (!obj.contains(key)) {
            if (!dflt)
                error(path + "/" + key,
                      "required field is missing (expected a size such as \"1GiB\")");
            return dflt;
        }
        const json& v = obj[key];
        if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0))
            return v.get<uint64_t>();
        if (!v.is_string()) {
            error(path + "/" + key,
                  "expected a size such as \"1GiB\" or a number of bytes, got " + type_name(v));
            return std::nullopt;
        }
        std::string err;
        auto s = parse_size(v.get<std::string>(), err);
        if (!s) error(path + "/" + key, "expected " + err);
        return s;
    }

    std::optional<gfp_t> gfp(const json& obj, const std::string& path, const char* key,
                             const char* dflt) {
        std::string text;
        const std::string p = path + "/" + key;
        if (!obj.contains(key)) {
            text = dflt;
        } else if (obj[key].is_string()) {
            text = obj[key].get<std::string>();
        } else if (obj[key].is_array()) {
            for (const auto& e : obj[key]) {
                if (!e.is_string()) {
                    error(p, "expected GFP flag names, got " + type_name(e));
                    return std::nullopt;
                }
                text += (text.empty() ? "" : "|") + e.get<std::string>();
            }
        } else {
            error(p, "expected GFP flags such as \"GFP_KERNEL | __GFP_ZERO\", got " +
                         type_name(obj[key]));
            return std::nullopt;
        }
        std::string err;
        auto g = parse_gfp(text, err);
        if (!g) {
            error(p, "expected GFP flags (GFP_KERNEL, GFP_USER, GFP_HIGHUSER_MOVABLE, GFP_DMA, "
                     "GFP_DMA32, GFP_ATOMIC, __GFP_ZERO, __GFP_HIGH, __GFP_MOVABLE, "
                     "__GFP_RECLAIMABLE, ...): " +
                         err);
            return std::nullopt;
        }
        if (std::string prob = gfp_problem(*g); !prob.empty()) {
            error(p, "invalid GFP combination: " + prob);
            return std::nullopt;
        }
        return g;
    }
};

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

void parse_machine(Checker& ck, const json& m, Scenario& sc) {
    const std::string path = "/machine";
    if (!m.is_object()) {
        ck.error(path, "expected an object, got " + type_name(m));
        return;
    }
    ck.only(m, path, {"arch", "memory", "cpus", "numa"});
    if (auto a = ck.string(m, path, "arch", std::string("x86_64"))) {
        if (auto arch = parse_arch(*a))
            sc.machine.arch = *arch;
        else
            ck.error(path + "/arch",
                     "expected \"i386\", \"pae\" or \"x86_64\", got \"" + *a + "\"");
    }
    const uint64_t max_bytes = std::min(arch_max_phys_bytes(sc.machine.arch), MMEMU_MAX_PHYS_BYTES);
    if (auto mem = ck.size(m, path, "memory", std::nullopt)) {
        if (*mem < MIN_MACHINE_BYTES)
            ck.error(path + "/memory",
                     "expected at least 64MiB of memory, got " + std::to_string(*mem) + " bytes");
        else if (*mem > max_bytes)
            ck.error(path + "/memory",
                     "expected at most " + std::to_string(max_bytes >> 30) + "GiB for arch " +
                         std::string(arch_name(sc.machine.arch)) +
                         (max_bytes == MMEMU_MAX_PHYS_BYTES ? " (mmemu's limit)"
                                                            : " (what the arch can address)") +
                         ", got " + std::to_string(*mem) + " bytes");
        else if (*mem % PAGE_SIZE)
            ck.error(path + "/memory",
                     "expected a multiple of 4KiB, got " + std::to_string(*mem) + " bytes");
        else
            sc.machine.memory_bytes = *mem;
    }
    if (auto c = ck.integer(m, path, "cpus", 1, 64, 1)) sc.machine.nr_cpus = unsigned(*c);
    if (!m.contains("numa")) return;
    const json& numa = m["numa"];
    const std::string np = path + "/numa";
    if (!numa.is_object()) {
        ck.error(np, "expected an object such as {\"nodes\": 2}, got " + type_name(numa));
        return;
    }
    ck.only(numa, np, {"nodes"});
    if (!numa.contains("nodes")) {
        ck.error(np + "/nodes",
                 "required field is missing (a node count, or a list of {\"memory\": size})");
        return;
    }
    const json& nodes = numa["nodes"];
    constexpr uint64_t node_align = uint64_t{4} << 20; // MAX_ORDER_NR_PAGES
    const uint64_t total = sc.machine.memory_bytes;
    if (nodes.is_number_integer()) {
        auto n = ck.integer(numa, np, "nodes", 1, 8, std::nullopt);
        if (!n) return;
        const uint64_t each = total / uint64_t(*n) / node_align * node_align;
        if (each < (uint64_t{16} << 20)) {
            ck.error(np + "/nodes", "expected nodes of at least 16MiB each, got " +
                                        std::to_string(*n) + " nodes for " + std::to_string(total) +
                                        " bytes");
            return;
        }
        for (int64_t i = 0; i < *n; i++)
            sc.machine.nodes.push_back(
                {uint64_t(i) * each, i + 1 == *n ? total : uint64_t(i + 1) * each});
    } else if (nodes.is_array()) {
        if (nodes.empty() || nodes.size() > 8) {
            ck.error(np + "/nodes", "expected 1 to 8 nodes, got " + std::to_string(nodes.size()));
            return;
        }
        uint64_t at = 0;
        for (size_t i = 0; i < nodes.size(); i++) {
            const std::string ip = np + "/nodes/" + std::to_string(i);
            if (!nodes[i].is_object()) {
                ck.error(ip, "expected an object such as {\"memory\": \"512MiB\"}, got " +
                                 type_name(nodes[i]));
                return;
            }
            ck.only(nodes[i], ip, {"memory"});
            auto sz = ck.size(nodes[i], ip, "memory", std::nullopt);
            if (!sz) return;
            if (*sz < (uint64_t{16} << 20) || (*sz % node_align && i + 1 != nodes.size())) {
                ck.error(
                    ip + "/memory",
                    "expected at least 16MiB and a multiple of 4MiB (except the last node), got " +
                        std::to_string(*sz) + " bytes");
                return;
            }
            sc.machine.nodes.push_back({at, at + *sz});
            at += *sz;
        }
        if (at != total)
            ck.error(np + "/nodes", "expected node sizes adding up to the machine's memory (" +
                                        std::to_string(total) + " bytes), got " +
                                        std::to_string(at));
    } else {
        ck.error(np + "/nodes",
                 "expected a node count or a list of {\"memory\": size}, got " + type_name(nodes));
    }
}

void parse_kernel(Checker& ck, const json& k, Scenario& sc) {
    const std::string path = "/kernel";
    if (!k.is_object()) {
        ck.error(path, "expected an object, got " + type_name(k));
        return;
    }
    ck.only(k, path,
            {"min_free_kbytes", "watermark_scale_factor", "lowmem_reserve_ratio", "kernelcore",
             "movablecore", "vmsplit", "kernel_image", "pcp", "percpu_pagelist_high_fraction",
             "slab_debug"});
    KernelConfig& c = sc.kernel;
    if (k.contains("min_free_kbytes"))
        if (auto v = ck.integer(k, path, "min_free_kbytes", 0, 1 << 30, std::nullopt))
            c.min_free_kbytes = uint64_t(*v);
    if (auto v = ck.integer(k, path, "watermark_scale_factor", 1, 3000, 10))
        c.watermark_scale_factor = uint64_t(*v);
    if (k.contains("lowmem_reserve_ratio")) {
        const json& r = k["lowmem_reserve_ratio"];
        if (!r.is_array() || r.size() != MAX_NR_ZONES) {
            ck.error(path + "/lowmem_reserve_ratio",
                     "expected an array of 4 integers (one per zone), got " + type_name(r));
        } else {
            std::array<uint32_t, MAX_NR_ZONES> a{};
            for (unsigned i = 0; i < MAX_NR_ZONES; i++) {
                if (!r[i].is_number_integer() || r[i].get<int64_t>() < 0 ||
                    r[i].get<int64_t>() > INT32_MAX)
                    ck.error(path + "/lowmem_reserve_ratio/" + std::to_string(i),
                             "expected a non-negative integer, got " + type_name(r[i]));
                else
                    a[i] = r[i].get<uint32_t>();
            }
            c.lowmem_reserve_ratio = a;
        }
    }
    if (auto v = ck.size(k, path, "kernelcore", 0)) c.kernelcore_bytes = *v;
    if (auto v = ck.size(k, path, "movablecore", 0)) c.movablecore_bytes = *v;
    if (c.kernelcore_bytes >= sc.machine.memory_bytes && c.kernelcore_bytes)
        ck.error(path + "/kernelcore", "expected less than the machine's memory");
    if (c.movablecore_bytes >= sc.machine.memory_bytes && c.movablecore_bytes)
        ck.error(path + "/movablecore", "expected less than the machine's memory");
    if (auto v = ck.string(k, path, "vmsplit", std::string("3G/1G"))) {
        if (*v == "3G/1G")
            c.page_offset_32 = 0xC0000000;
        else if (*v == "2G/2G")
            c.page_offset_32 = 0x80000000;
        else if (*v == "1G/3G")
            c.page_offset_32 = 0x40000000;
        else
            ck.error(path + "/vmsplit",
                     "expected \"3G/1G\", \"2G/2G\" or \"1G/3G\", got \"" + *v + "\"");
    }
    if (auto v = ck.size(k, path, "kernel_image", c.kernel_image_bytes)) {
        if (*v < PAGE_SIZE || *v > (uint64_t{256} << 20) || *v % PAGE_SIZE)
            ck.error(path + "/kernel_image", "expected a multiple of 4KiB from 4KiB to 256MiB");
        else
            c.kernel_image_bytes = *v;
    }
    if (auto v = ck.boolean(k, path, "pcp", true)) c.pcp_enabled = *v;
    if (auto v = ck.integer(k, path, "percpu_pagelist_high_fraction", 0, 1 << 30, 0)) {
        if (*v != 0 && *v < 8)
            ck.error(path + "/percpu_pagelist_high_fraction",
                     "expected 0 or at least 8, got " + std::to_string(*v));
        else
            c.percpu_pagelist_high_fraction = uint32_t(*v);
    }
    if (auto v = ck.string(k, path, "slab_debug", std::string("flags"))) {
        if (*v == "off")
            c.slab_debug = SlabDebug::off;
        else if (*v == "flags")
            c.slab_debug = SlabDebug::flags;
        else if (*v == "forced")
            c.slab_debug = SlabDebug::forced;
        else
            ck.error(path + "/slab_debug",
                     "expected \"off\", \"flags\" or \"forced\", got \"" + *v + "\"");
    }
    const uint64_t image_end = (uint64_t{16} << 20) + c.kernel_image_bytes;
    if (image_end + (uint64_t{8} << 20) > sc.machine.memory_bytes)
        ck.error(path + "/kernel_image",
                 "the kernel image at 16MiB does not fit in the machine's memory");
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

void parse_events(Checker& ck, const json& events, Scenario& sc) {
    if (!events.is_array()) {
        ck.error("/events", "expected an array of events, got " + type_name(events));
        return;
    }
    Names names;
    std::set<std::string> checkpoints;
    const int max_cpu = int(sc.machine.nr_cpus) - 1;
    const int max_node = int(std::max<size_t>(1, sc.machine.nodes.size())) - 1;
    for (size_t i = 0; i < events.size(); i++) {
        const std::string p = "/events/" + std::to_string(i);
        const json& e = events[i];
        if (!e.is_object()) {
            ck.error(p, "expected an event object with an \"op\", got " + type_name(e));
            continue;
        }
        auto op_name = ck.string(e, p, "op", std::nullopt);
        if (!op_name) continue;
        Op op{};
        op.event = uint32_t(i);
        op.count = 1;
        const size_t before = ck.errors.size();
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
            names.handles[*id] = {slot, Names::State::live, kind, cache, i};
            op.handle = slot;
        };
        // An id being freed (or written to): it must hold a live allocation of an accepted kind.
        auto use = [&](std::initializer_list<Names::Kind> accept, const char* what,
                       bool frees) -> Names::Handle* {
            auto id = ck.string(e, p, "id", std::nullopt);
            if (!id) return nullptr;
            auto it = names.handles.find(*id);
            if (it == names.handles.end()) {
                ck.error(p + "/id", std::string("expected the id of ") + what + ", but \"" + *id +
                                        "\" was never allocated");
                return nullptr;
            }
            if (it->second.state == Names::State::freed) {
                ck.error(p + "/id", "\"" + *id + "\" was already freed (double free)");
                return nullptr;
            }
            if (std::find(accept.begin(), accept.end(), it->second.kind) == accept.end()) {
                ck.error(p + "/id", std::string("expected the id of ") + what + ", but \"" + *id +
                                        "\" was allocated by event " +
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
                    ck.error(p + "/cache",
                             "cache \"" + *name +
                                 "\" already exists (kmem_cache_create refuses duplicate names)");
                    return nullptr;
                }
                if (name->rfind("kmalloc-", 0) == 0 || name->rfind("dma-kmalloc-", 0) == 0 ||
                    *name == "kmem_cache") {
                    ck.error(p + "/cache",
                             "\"" + *name + "\" is the name of a cache the kernel creates at boot");
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
                ck.error(p + "/cache", "cache \"" + *name + "\" was destroyed by an earlier event");
                return nullptr;
            }
            op.cache = it->second.slot;
            return &it->second;
        };

        const std::string& o = *op_name;
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
            if (auto v = ck.integer(e, p, "size", word, int64_t(KMALLOC_MAX_SIZE), std::nullopt)) {
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
            op.kind =
                o == "kmem_cache_shrink" ? OpKind::kmem_cache_shrink : OpKind::kmem_cache_destroy;
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
            use({Names::Kind::kmalloc, Names::Kind::object}, "a kmalloc or kmem_cache_alloc event",
                true);
        } else if (o == "write_object") {
            op.kind = OpKind::write_object;
            ck.only(e, p, {"op", "id", "offset", "length", "byte"});
            use({Names::Kind::kmalloc, Names::Kind::object}, "a kmalloc or kmem_cache_alloc event",
                false);
            if (auto v = ck.integer(e, p, "offset", 0, 1 << 22, 0)) op.offset = uint64_t(*v);
            if (auto v = ck.integer(e, p, "length", 1, 1 << 22, std::nullopt))
                op.size = uint64_t(*v);
            if (auto v = ck.integer(e, p, "byte", 0, 255, std::nullopt)) op.fill = uint8_t(*v);
        } else if (o == "drain_pages") {
            op.kind = OpKind::drain_pages;
            ck.only(e, p, {"op"});
        } else if (o == "checkpoint") {
            op.kind = OpKind::checkpoint;
            ck.only(e, p, {"op", "name"});
            if (auto n = ck.string(e, p, "name", std::nullopt)) {
                if (!checkpoints.insert(*n).second)
                    ck.error(p + "/name", "checkpoint name \"" + *n + "\" is used twice");
                op.name = uint32_t(sc.checkpoint_names.size());
                sc.checkpoint_names.push_back(*n);
            }
        } else {
            ck.error(p + "/op", "unknown event \"" + o +
                                    "\" (expected alloc_pages, free_pages, kmem_cache_create, "
                                    "kmem_cache_alloc, kmem_cache_free, kmem_cache_shrink, "
                                    "kmem_cache_destroy, kmalloc, "
                                    "kfree, write_object, drain_pages or checkpoint)");
            continue;
        }
        if (ck.errors.size() == before) sc.ops.push_back(op);
    }
}

// Applies "--set a.b.c=value" to the document.
void apply_override(json& doc, const std::string& spec, Checker& ck) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
        ck.error("",
                 "--set expects key=value (for example machine.memory=2GiB), got \"" + spec + "\"");
        return;
    }
    const std::string key = spec.substr(0, eq), value = spec.substr(eq + 1);
    json v = json::parse(value, nullptr, false);
    if (v.is_discarded()) v = value;
    json* at = &doc;
    size_t start = 0;
    while (true) {
        const size_t dot = key.find('.', start);
        const std::string part = key.substr(start, dot - start);
        if (!at->is_object()) {
            ck.error("", "--set " + key + ": \"" + part + "\" is not inside an object");
            return;
        }
        if (dot == std::string::npos) {
            (*at)[part] = v;
            return;
        }
        at = &(*at)[part];
        if (at->is_null()) *at = json::object();
        start = dot + 1;
    }
}

} // namespace

CompileResult compile_scenario(const std::string& file, const std::string& text,
                               const std::vector<std::string>& overrides) {
    CompileResult r;
    Checker ck;
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::parse_error& e) {
        // Convert the byte offset into a line and column.
        size_t line = 1, col = 1;
        const size_t upto = std::min<size_t>(e.byte ? e.byte - 1 : 0, text.size());
        for (size_t i = 0; i < upto; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        std::string what = e.what();
        const size_t colon = what.find("syntax error");
        if (colon != std::string::npos) what = what.substr(colon);
        r.errors.push_back({"", "malformed JSON at line " + std::to_string(line) + ", column " +
                                    std::to_string(col) + ": " + what});
        return r;
    }
    for (const auto& o : overrides) apply_override(doc, o, ck);
    Scenario sc;
    sc.file = file;
    if (!doc.is_object()) {
        ck.error("", "expected a JSON object with mmemu_scenario, machine and events, got " +
                         type_name(doc));
        r.errors = ck.errors;
        return r;
    }
    ck.only(doc, "",
            {"mmemu_scenario", "name", "description", "seed", "machine", "kernel", "events"});
    if (auto v = ck.integer(doc, "", "mmemu_scenario", 1, 1000, std::nullopt))
        if (*v != SCENARIO_FORMAT_VERSION)
            ck.error("/mmemu_scenario",
                     "expected format version 1 (this mmemu reads version 1), got " +
                         std::to_string(*v));
    if (auto v = ck.string(doc, "", "name", std::string())) sc.name = *v;
    if (auto v = ck.string(doc, "", "description", std::string())) sc.description = *v;
    if (doc.contains("seed")) {
        if (!doc["seed"].is_number_unsigned())
            ck.error("/seed", "expected a non-negative integer, got " + type_name(doc["seed"]));
        else
            sc.seed = doc["seed"].get<uint64_t>();
    }
    if (doc.contains("machine"))
        parse_machine(ck, doc["machine"], sc);
    else
        ck.error("/machine",
                 "required field is missing (expected {\"arch\", \"memory\", \"cpus\"})");
    if (doc.contains("kernel"))
        parse_kernel(ck, doc["kernel"], sc);
    else
        parse_kernel(ck, json::object(), sc);
    if (doc.contains("events"))
        parse_events(ck, doc["events"], sc);
    else
        ck.error("/events", "required field is missing (expected an array of events)");
    r.errors = ck.errors;
    if (r.errors.empty()) r.scenario = std::move(sc);
    return r;
}

} // namespace mmemu
