#include "workloads/scenario.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "workloads/input_file.h"
#include "workloads/json_reader.h"
#include "workloads/op_table.h"
#include "workloads/ops_kernel.h"
#include "workloads/ops_ksm.h"
#include "workloads/sha256.h"
#include "workloads/template_vars.h"

namespace mmemu {

std::string format_diagnostic(const std::string& file, const Diagnostic& d) {
    std::string where = file;
    if (d.line) where += ":" + std::to_string(d.line) + ":" + std::to_string(d.column);
    return where + ": " + (d.path.empty() ? std::string() : d.path + ": ") + d.message;
}

bool read_scenario_file(const std::string& path, std::string& text, std::string& error) {
    return read_input_file(path, MAX_SCENARIO_BYTES, "scenario",
                           "use an event's count to repeat work", text, error);
}

namespace {

// machine.mmu: the CPU model (docs/cpu-model.md).
void parse_mmu(Checker& ck, const json& u, MachineConfig& mc, bool memory_ok) {
    const std::string path = "/machine/mmu";
    if (!u.is_object()) {
        ck.error(path, "expected an object, got " + type_name(u));
        return;
    }
    ck.only(u, path, {"maxphyaddr", "tlb", "costs"});
    const int64_t min_bits = min_maxphyaddr(mc.arch);
    if (auto v = ck.integer(u, path, "maxphyaddr", min_bits, 52, 0)) {
        mc.maxphyaddr = unsigned(*v);
        if (memory_ok && *v && *v < 64 && mc.memory_bytes > (uint64_t{1} << *v))
            ck.error(path + "/maxphyaddr", "expected a width that addresses the machine's " +
                                               std::to_string(mc.memory_bytes) +
                                               " bytes of memory");
    }
    if (u.contains("costs")) {
        const json& c = u["costs"];
        const std::string cp = path + "/costs";
        if (!c.is_object()) {
            ck.error(cp, "expected an object of cycle costs");
        } else {
            CostModel& cm = mc.costs;
            const std::pair<const char*, uint32_t*> fields[] = {
                {"l1_tlb_hit", &cm.l1_tlb_hit},
                {"stlb_hit", &cm.stlb_hit},
                {"walk_mem_ref", &cm.walk_mem_ref},
                {"psc_hit", &cm.psc_hit},
                {"ad_writeback", &cm.ad_writeback},
                {"fault_delivery", &cm.fault_delivery},
                {"invlpg", &cm.invlpg},
                {"invpcid", &cm.invpcid},
                {"mov_cr3", &cm.mov_cr3},
                {"mov_cr4", &cm.mov_cr4},
                {"mov_cr0", &cm.mov_cr0},
                {"syscall", &cm.syscall},
                {"fault_handling", &cm.fault_handling},
                {"clear_page", &cm.clear_page},
                {"copy_page", &cm.copy_page},
                {"context_switch", &cm.context_switch},
                {"ipi_send", &cm.ipi_send},
                {"ipi_receive", &cm.ipi_receive},
                {"pte_copy", &cm.pte_copy},
                {"ksm_batch", &cm.ksm_batch},
                {"ksm_scan_page", &cm.ksm_scan_page},
                {"ksm_checksum", &cm.ksm_checksum},
                {"ksm_memcmp", &cm.ksm_memcmp},
                {"ksm_merge", &cm.ksm_merge}};
            for (auto it = c.begin(); it != c.end(); ++it) {
                bool known = false;
                for (const auto& [name, field] : fields)
                    if (it.key() == name) {
                        known = true;
                        if (auto v = ck.integer(c, cp, name, 0, 1000000, std::nullopt))
                            *field = uint32_t(*v);
                    }
                if (!known)
                    ck.error(json_pointer_append(cp, it.key()),
                             "unknown cost (see docs/cpu-model.md for the list)");
            }
        }
    }
    if (!u.contains("tlb")) return;
    const json& t = u["tlb"];
    const std::string tp = path + "/tlb";
    if (!t.is_object()) {
        ck.error(tp,
                 "expected an object with itlb, dtlb, stlb and the paging-structure cache sizes");
        return;
    }
    ck.only(t, tp,
            {"itlb", "dtlb", "stlb", "pml5e_cache", "pml4e_cache", "pdpte_cache", "pde_cache"});
    TlbConfig& tc = mc.tlb;
    for (const auto& [key, dest] :
         {std::pair<const char*, std::vector<TlbArrayConfig>*>{"itlb", &tc.itlb},
          {"dtlb", &tc.dtlb},
          {"stlb", &tc.stlb}}) {
        if (!t.contains(key)) continue;
        const json& arr = t[key];
        const std::string ap = tp + "/" + key;
        if (!arr.is_array() || arr.empty()) {
            ck.error(ap, "expected a non-empty array of {name, entries, ways, sizes, policy}");
            continue;
        }
        dest->clear();
        for (size_t i = 0; i < arr.size(); i++) {
            const json& a = arr[i];
            const std::string ip = ap + "/" + std::to_string(i);
            if (!a.is_object()) {
                ck.error(ip, "expected an object, got " + type_name(a));
                continue;
            }
            ck.only(a, ip, {"name", "entries", "ways", "sizes", "policy"});
            TlbArrayConfig c;
            c.name =
                ck.string(a, ip, "name", std::string(key) + "_" + std::to_string(i)).value_or("");
            auto entries = ck.integer(a, ip, "entries", 1, 65536, std::nullopt);
            auto ways = ck.integer(a, ip, "ways", 1, 64, std::nullopt);
            if (entries && ways) {
                const int64_t sets = *entries / *ways;
                if (*entries % *ways || (sets & (sets - 1)))
                    ck.error(ip,
                             "expected entries / ways to be a whole power of two (the set count)");
                c.entries = unsigned(*entries);
                c.ways = unsigned(*ways);
            }
            c.size_mask = 0;
            if (a.contains("sizes") && a["sizes"].is_array()) {
                for (size_t k = 0; k < a["sizes"].size(); k++) {
                    const json& sz = a["sizes"][k];
                    const std::string z = sz.is_string() ? sz.get<std::string>() : "";
                    if (z == "4K")
                        c.size_mask |= TLB_4K;
                    else if (z == "2M")
                        c.size_mask |= TLB_2M;
                    else if (z == "4M")
                        c.size_mask |= TLB_4M;
                    else if (z == "1G")
                        c.size_mask |= TLB_1G;
                    else
                        ck.error(ip + "/sizes/" + std::to_string(k),
                                 "expected a page size \"4K\", \"2M\", \"4M\" or \"1G\", got " +
                                     type_name(sz));
                }
            }
            if (!c.size_mask) ck.error(ip + "/sizes", "expected a non-empty list of page sizes");
            auto pol = ck.string(a, ip, "policy", std::string("lru"));
            if (pol && *pol == "plru") {
                c.policy = ReplacementPolicy::plru;
                if (ways && (*ways & (*ways - 1)))
                    ck.error(ip + "/policy", "tree pseudo-LRU needs a power-of-two number of ways");
            } else if (pol && *pol != "lru") {
                ck.error(ip + "/policy", "expected \"lru\" or \"plru\", got \"" + *pol + "\"");
            }
            dest->push_back(c);
        }
    }
    if (auto v = ck.integer(t, tp, "pml5e_cache", 0, 1024, tc.pml5e_cache))
        tc.pml5e_cache = unsigned(*v);
    if (auto v = ck.integer(t, tp, "pml4e_cache", 0, 1024, tc.pml4e_cache))
        tc.pml4e_cache = unsigned(*v);
    if (auto v = ck.integer(t, tp, "pdpte_cache", 0, 1024, tc.pdpte_cache))
        tc.pdpte_cache = unsigned(*v);
    if (auto v = ck.integer(t, tp, "pde_cache", 0, 1024, tc.pde_cache)) tc.pde_cache = unsigned(*v);
}

// `memory_ok` says whether the memory size was given and valid: checks that compare against it
// are skipped otherwise (they would compare against a size the scenario did not ask for).
void parse_machine(Checker& ck, const json& m, MachineConfig& mc, bool& memory_ok) {
    memory_ok = false;
    const std::string path = "/machine";
    if (!m.is_object()) {
        ck.error(path, "expected an object, got " + type_name(m));
        return;
    }
    ck.only(m, path, {"arch", "memory", "cpus", "cpu_mhz", "la57", "numa", "mmu"});
    if (auto a = ck.string(m, path, "arch", std::string("x86_64"))) {
        if (auto arch = parse_arch(*a))
            mc.arch = *arch;
        else
            ck.error(path + "/arch",
                     "expected \"i386\", \"pae\" or \"x86_64\", got \"" + *a + "\"");
    }
    const uint64_t max_bytes = std::min(arch_max_phys_bytes(mc.arch), MMEMU_MAX_PHYS_BYTES);
    if (auto mem = ck.size(m, path, "memory", std::nullopt)) {
        if (*mem < MIN_MACHINE_BYTES)
            ck.error(path + "/memory",
                     "expected at least 64MiB of memory, got " + std::to_string(*mem) + " bytes");
        else if (*mem > max_bytes)
            ck.error(path + "/memory",
                     "expected at most " + std::to_string(max_bytes >> 30) + "GiB for arch " +
                         std::string(arch_name(mc.arch)) +
                         (max_bytes == MMEMU_MAX_PHYS_BYTES ? " (mmemu's limit)"
                                                            : " (what the arch can address)") +
                         ", got " + std::to_string(*mem) + " bytes");
        else if (*mem % PAGE_SIZE)
            ck.error(path + "/memory",
                     "expected a multiple of 4KiB, got " + std::to_string(*mem) + " bytes");
        else {
            mc.memory_bytes = *mem;
            memory_ok = true;
        }
    }
    if (auto c = ck.integer(m, path, "cpus", 1, 64, 1)) mc.nr_cpus = unsigned(*c);
    if (auto c = ck.integer(m, path, "cpu_mhz", 1, 100000, 3000)) mc.cpu_mhz = unsigned(*c);
    if (auto l = ck.boolean(m, path, "la57", false)) {
        mc.la57 = *l;
        if (*l && mc.arch != Arch::x86_64)
            ck.error(path + "/la57", "5-level paging needs IA-32e mode: arch \"x86_64\"");
    }
    if (m.contains("mmu")) parse_mmu(ck, m["mmu"], mc, memory_ok);
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
    const uint64_t total = mc.memory_bytes;
    if (nodes.is_number_integer()) {
        auto n = ck.integer(numa, np, "nodes", 1, 8, std::nullopt);
        if (!n || !memory_ok) return; // the nodes divide the memory: nothing to divide
        const uint64_t each = total / uint64_t(*n) / node_align * node_align;
        if (each < (uint64_t{16} << 20)) {
            ck.error(np + "/nodes", "expected nodes of at least 16MiB each, got " +
                                        std::to_string(*n) + " nodes for " + std::to_string(total) +
                                        " bytes");
            return;
        }
        for (int64_t i = 0; i < *n; i++)
            mc.nodes.push_back({uint64_t(i) * each, i + 1 == *n ? total : uint64_t(i + 1) * each});
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
            mc.nodes.push_back({at, at + *sz});
            at += *sz;
        }
        if (memory_ok && at != total)
            ck.error(np + "/nodes", "expected node sizes adding up to the machine's memory (" +
                                        std::to_string(total) + " bytes), got " +
                                        std::to_string(at));
    } else {
        ck.error(np + "/nodes",
                 "expected a node count or a list of {\"memory\": size}, got " + type_name(nodes));
    }
}

void parse_kernel(Checker& ck, const json& k, const MachineConfig& mc, bool memory_ok,
                  KernelConfig& c) {
    const std::string path = "/kernel";
    if (!k.is_object()) {
        ck.error(path, "expected an object, got " + type_name(k));
        return;
    }
    ck.only(k, path,
            {"min_free_kbytes", "watermark_scale_factor", "lowmem_reserve_ratio", "kernelcore",
             "movablecore", "vmsplit", "kernel_image", "pcp", "nopcid",
             "percpu_pagelist_high_fraction", "slab_debug", "max_map_count", "ksm"});
    if (auto v = ck.integer(k, path, "max_map_count", 0, INT32_MAX, 65530))
        c.max_map_count = uint64_t(*v);
    if (k.contains("min_free_kbytes"))
        if (auto v = ck.integer(k, path, "min_free_kbytes", 0, 1 << 30, std::nullopt))
            c.min_free_kbytes = uint64_t(*v);
    if (auto v = ck.integer(k, path, "watermark_scale_factor", 1, 3000, 10))
        c.watermark_scale_factor = uint64_t(*v);
    if (k.contains("lowmem_reserve_ratio")) {
        const json& r = k["lowmem_reserve_ratio"];
        if (!r.is_array() || r.size() != MAX_NR_ZONES) {
            ck.error(path + "/lowmem_reserve_ratio",
                     "expected an array of 4 integers (one per zone), got " +
                         (r.is_array() ? "an array of " + std::to_string(r.size()) : type_name(r)));
        } else {
            std::array<uint32_t, MAX_NR_ZONES> a{};
            for (unsigned i = 0; i < MAX_NR_ZONES; i++) {
                const json& v = r[i];
                const bool ok = v.is_number_unsigned()
                                    ? v.get<uint64_t>() <= uint64_t(INT32_MAX)
                                    : v.is_number_integer() && v.get<int64_t>() >= 0;
                if (!ok)
                    ck.error(path + "/lowmem_reserve_ratio/" + std::to_string(i),
                             "expected an integer from 0 to " + std::to_string(INT32_MAX) +
                                 ", got " + (v.is_number_integer() ? v.dump() : type_name(v)));
                else
                    a[i] = uint32_t(v.get<uint64_t>());
            }
            c.lowmem_reserve_ratio = a;
        }
    }
    if (auto v = ck.size(k, path, "kernelcore", 0)) c.kernelcore_bytes = *v;
    if (auto v = ck.size(k, path, "movablecore", 0)) c.movablecore_bytes = *v;
    if (memory_ok && c.kernelcore_bytes >= mc.memory_bytes && c.kernelcore_bytes)
        ck.error(path + "/kernelcore", "expected less than the machine's memory");
    if (memory_ok && c.movablecore_bytes >= mc.memory_bytes && c.movablecore_bytes)
        ck.error(path + "/movablecore", "expected less than the machine's memory");
    // CONFIG_VMSPLIT_* (arch/x86/Kconfig): PAGE_OFFSET; the two _OPT splits depend on !X86_PAE.
    if (auto v = ck.string(k, path, "vmsplit", std::string("3G/1G"))) {
        struct Split {
            const char* name;
            uint64_t page_offset;
            bool pae;
        };
        static constexpr Split splits[] = {
            {"3G/1G", 0xC0000000, true}, {"3G_OPT", 0xB0000000, false},
            {"2G/2G", 0x80000000, true}, {"2G_OPT", 0x78000000, false},
            {"1G/3G", 0x40000000, true},
        };
        const Split* found = nullptr;
        for (const Split& s : splits)
            if (*v == s.name) found = &s;
        if (!found)
            ck.error(path + "/vmsplit", "expected \"3G/1G\", \"3G_OPT\", \"2G/2G\", "
                                        "\"2G_OPT\" or \"1G/3G\", got \"" +
                                            *v + "\"");
        else if (!found->pae && mc.arch == Arch::pae)
            ck.error(path + "/vmsplit", "VMSPLIT_" + *v +
                                            " is not available with PAE "
                                            "(Kconfig: depends on !X86_PAE)");
        else
            c.page_offset_32 = found->page_offset;
    }
    if (auto v = ck.size(k, path, "kernel_image", c.kernel_image_bytes)) {
        if (*v < PAGE_SIZE || *v > (uint64_t{256} << 20) || *v % PAGE_SIZE)
            ck.error(path + "/kernel_image", "expected a multiple of 4KiB from 4KiB to 256MiB");
        else
            c.kernel_image_bytes = *v;
    }
    if (auto v = ck.boolean(k, path, "pcp", true)) c.pcp_enabled = *v;
    if (auto v = ck.boolean(k, path, "nopcid", false)) c.nopcid = *v;
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
    if (memory_ok && image_end + (uint64_t{8} << 20) > mc.memory_bytes)
        ck.error(path + "/kernel_image",
                 "the kernel image at 16MiB does not fit in the machine's memory");
}

// "templates": {"NAME": {"params": ["p", ...], "events": [...]}}: their shape (their events are
// compiled where a "template" event uses them, with its arguments). False when unusable.
bool check_templates(Checker& ck, const json& t) {
    if (!t.is_object()) {
        ck.error("/templates", "expected an object of named templates, got " + type_name(t));
        return false;
    }
    bool ok = true;
    for (auto it = t.begin(); it != t.end(); ++it) {
        const std::string p = json_pointer_append("/templates", it.key());
        const json& v = *it;
        if (!v.is_object()) {
            ck.error(p, "expected {\"params\": [...], \"events\": [...]}, got " + type_name(v));
            ok = false;
            continue;
        }
        ck.only(v, p, {"params", "events", "description"});
        if (v.contains("params")) {
            const json& ps = v["params"];
            if (!ps.is_array()) {
                ck.error(p + "/params",
                         "expected an array of parameter names, got " + type_name(ps));
                ok = false;
            } else {
                for (size_t i = 0; i < ps.size(); ++i)
                    if (!ps[i].is_string() || !valid_var_name(ps[i].get<std::string>())) {
                        ck.error(p + "/params/" + std::to_string(i),
                                 "expected a parameter name (a letter or '_', then letters, digits "
                                 "or '_'), got " +
                                     type_name(ps[i]));
                        ok = false;
                    } else {
                        for (size_t j = 0; j < i; ++j)
                            if (ps[j] == ps[i]) {
                                ck.error(p + "/params/" + std::to_string(i),
                                         "the parameter " + ps[i].dump() + " is named twice");
                                ok = false;
                            }
                    }
            }
        }
        if (!v.contains("events") || !v["events"].is_array() || v["events"].empty()) {
            ck.error(p + "/events", "expected a non-empty array of events");
            ok = false;
        }
    }
    return ok;
}

// "timeseries": {"every_ms": N, "counters": [PATTERN, ...]}: what to sample and how often.
void parse_timeseries(Checker& ck, const json& t, bool bare, TimeseriesConfig& out) {
    const std::string path = "/timeseries";
    if (!t.is_object()) {
        ck.error(path, "expected an object with every_ms (and counters), got " + type_name(t));
        return;
    }
    ck.only(t, path, {"every_ms", "counters"});
    if (auto v = ck.integer(t, path, "every_ms", 1, 1000000000, std::nullopt)) out.every_ms = *v;
    if (!t.contains("counters")) {
        out.counters = default_timeseries_counters(bare);
        return;
    }
    const json& c = t["counters"];
    const std::string cp = path + "/counters";
    if (!c.is_array() || c.empty() || c.size() > MAX_TIMESERIES_COUNTERS) {
        ck.error(cp, "expected an array of 1 to " + std::to_string(MAX_TIMESERIES_COUNTERS) +
                         " counter paths (such as \"ksm.pages_sharing\"), got " + type_name(c));
        return;
    }
    std::vector<std::string> groups;
    for (const auto& g : state_group_names())
        if ((g == "cpus") == bare) groups.push_back(g);
    for (size_t i = 0; i < c.size(); ++i) {
        const std::string ip = cp + "/" + std::to_string(i);
        if (!c[i].is_string()) {
            ck.error(ip, "expected a counter path such as \"ksm.pages_sharing\", got " +
                             type_name(c[i]));
            continue;
        }
        const std::string text = c[i].get<std::string>();
        std::string error;
        const auto p = PathPattern::parse(text, error);
        if (!p) {
            ck.error(ip, "expected a counter path: " + error);
            continue;
        }
        const std::string& group = p->first_key();
        if (std::find(groups.begin(), groups.end(), group) == groups.end()) {
            std::string list;
            for (const auto& g : groups) list += std::string(list.empty() ? "" : ", ") + g;
            ck.error(ip, "expected a path that starts with a group of the state" +
                             did_you_mean_hint(group, groups) + " (" +
                             (bare ? "a bare machine's state: " : "a kernel scenario's state: ") +
                             list + "), got \"" + text + "\"");
            continue;
        }
        out.counters.push_back(text);
    }
}

// Applies "--set a.b.c=value" to the document; `set_paths` receives the JSON pointer it set. An
// override that cannot be applied is an error about the command line (no place in the file) and
// leaves the document as it was.
void apply_override(json& doc, const std::string& spec, Checker& ck,
                    std::vector<std::string>& set_paths) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
        ck.error("",
                 "--set expects key=value (for example machine.memory=2GiB), got \"" + spec + "\"");
        return;
    }
    const std::string key = spec.substr(0, eq), value = spec.substr(eq + 1);
    if (!valid_utf8(spec)) {
        ck.error("", "--set expects UTF-8 text, got a byte that is not");
        return;
    }
    JsonReadResult parsed = read_json(value);
    json v = parsed.ok ? std::move(parsed.doc.value) : json(value);
    json copy = doc;
    json* at = &copy;
    std::string pointer;
    size_t start = 0;
    while (true) {
        const size_t dot = key.find('.', start);
        const std::string part = key.substr(start, dot - start);
        if (part.empty()) {
            ck.error("", "--set " + key + ": expected dot-separated field names");
            return;
        }
        if (!at->is_object()) {
            ck.error("", "--set " + key + ": " + (pointer.empty() ? "the document" : pointer) +
                             " is " + type_name(*at) + ", not an object to set \"" + part +
                             "\" in");
            return;
        }
        pointer = json_pointer_append(pointer, part);
        if (dot == std::string::npos) {
            (*at)[part] = std::move(v);
            set_paths.push_back(pointer);
            doc = std::move(copy);
            return;
        }
        at = &(*at)[part];
        if (at->is_null()) *at = json::object();
        start = dot + 1;
    }
}

// True when `path` is `prefix` or inside it.
bool within(const std::string& path, const std::string& prefix) {
    return path.compare(0, prefix.size(), prefix) == 0 &&
           (path.size() == prefix.size() || path[prefix.size()] == '/');
}

} // namespace

CompileResult compile_scenario(const std::string& file, const std::string& text,
                               const std::vector<std::string>& overrides) {
    CompileResult r;
    JsonReadResult read = read_json(text);
    if (!read.ok) {
        r.errors.push_back({"", "malformed JSON: expected " + read.error, read.error_pos.line,
                            read.error_pos.column});
        return r;
    }
    json& doc = read.doc.value;
    Checker ck, set_ck;
    std::vector<std::string> set_paths;
    for (const auto& o : overrides) apply_override(doc, o, set_ck, set_paths);
    Scenario sc;
    sc.file = file;
    sc.source_sha256 = sha256_hex(text);
    sc.overrides = overrides;
    if (!doc.is_object()) {
        ck.error("", "expected a JSON object with mmemu_scenario, machine and events, got " +
                         type_name(doc));
    } else {
        ck.only(doc, "",
                {"$schema", "mmemu_scenario", "mode", "name", "description", "seed", "machine",
                 "kernel", "timeseries", "templates", "events"});
        // "$schema" names the JSON Schema for editors (docs/scenario.schema.json); unused here.
        if (doc.contains("$schema") && !doc["$schema"].is_string())
            ck.error("/$schema", "expected a string (the path or URL of the scenario's JSON "
                                 "Schema), got " +
                                     type_name(doc["$schema"]));
        if (auto m = ck.string(doc, "", "mode", std::string("kernel"))) {
            if (*m == "bare")
                sc.bare = true;
            else if (*m != "kernel")
                ck.error("/mode",
                         "expected \"kernel\" (the default) or \"bare\", got \"" + *m + "\"");
        }
        if (auto v = ck.integer(doc, "", "mmemu_scenario", 1, 1000, std::nullopt))
            if (*v != SCENARIO_FORMAT_VERSION)
                ck.error("/mmemu_scenario",
                         "expected format version 1 (this mmemu reads version 1), got " +
                             std::to_string(*v));
        if (auto v = ck.string(doc, "", "name", std::string())) sc.name = *v;
        if (auto v = ck.string(doc, "", "description", std::string())) sc.description = *v;
        if (doc.contains("seed")) {
            if (!doc["seed"].is_number_unsigned())
                ck.error("/seed", "expected a non-negative integer below 2^64, got " +
                                      type_name(doc["seed"]));
            else
                sc.seed = doc["seed"].get<uint64_t>();
        }
        bool memory_ok = false;
        if (doc.contains("machine"))
            parse_machine(ck, doc["machine"], sc.machine, memory_ok);
        else
            ck.error("/machine",
                     "required field is missing (expected {\"arch\", \"memory\", \"cpus\"})");
        if (sc.bare) {
            if (doc.contains("kernel"))
                ck.error("/kernel", "a bare-machine scenario has no kernel (remove \"kernel\" or "
                                    "the \"mode\": \"bare\")");
        } else {
            parse_kernel(ck, doc.contains("kernel") ? doc["kernel"] : json::object(), sc.machine,
                         memory_ok, sc.kernel);
        }
        if (doc.contains("timeseries"))
            parse_timeseries(ck, doc["timeseries"], sc.bare, sc.timeseries);
        if (!doc.contains("events")) {
            ck.error("/events", "required field is missing (expected an array of events)");
        } else if (doc["events"].is_array() && doc["events"].size() > MAX_EVENTS) {
            ck.error("/events", "expected at most " + std::to_string(MAX_EVENTS) +
                                    " events (use an event's count to repeat work), got " +
                                    std::to_string(doc["events"].size()));
        } else {
            CompileState st;
            if (doc.contains("templates") && check_templates(ck, doc["templates"]))
                st.templates = &doc["templates"];
            st.machine = &sc.machine;
            st.bare = sc.bare;
            st.seed = sc.seed;
            // kernel.ksm: the knobs written at boot (as an init script would), compiled as a
            // `ksm` event whose writes the kernel cannot refuse there.
            if (!sc.bare && doc.contains("kernel") && doc["kernel"].is_object() &&
                doc["kernel"].contains("ksm")) {
                const json& kk = doc["kernel"]["ksm"];
                if (!kk.is_object()) {
                    ck.error("/kernel/ksm", "expected an object of knobs, got " + type_name(kk));
                } else if (kk.empty()) {
                    ck.error("/kernel/ksm", "expected at least one knob (run, pages_to_scan, ...)");
                } else {
                    // Only the knobs (and cpu, refused with its reason): no "op" here.
                    const OpSpec& spec = *find_op_spec("ksm");
                    std::vector<const char*> names;
                    for (const auto& f : spec.fields) names.push_back(f.name);
                    ck.only(kk, "/kernel/ksm", names);
                    if (kk.contains("cpu"))
                        ck.error("/kernel/ksm/cpu",
                                 "the kernel section's writes run at boot, on CPU 0");
                    json known = json::object();
                    for (const auto& f : spec.fields)
                        if (kk.contains(f.name) && std::string_view(f.name) != "cpu")
                            known[f.name] = kk[f.name];
                    // With no knob left, the errors above say why.
                    if (!known.empty()) {
                        OpParser op(ck, known, "/kernel/ksm", spec, st, 0);
                        sc.boot_ops.push_back(parse_ksm_at_boot(op));
                    }
                }
            }
            compile_events(ck, doc["events"], st, sc.ops);
            sc.kernel_names = st.kernel_names;
            sc.process_names = st.process_names;
            sc.checkpoint_names = std::move(st.checkpoint_names);
        }
    }
    r.errors = std::move(ck.errors);
    for (auto& d : r.errors) {
        bool set = false;
        for (const auto& p : set_paths) set |= within(d.path, p);
        if (set) {
            d.message += " (the value given with --set)";
            continue;
        }
        const TextPos at = read.doc.position_of(d.path);
        d.line = at.line;
        d.column = at.column;
    }
    // Errors about the --set text itself have no place in the file.
    r.errors.insert(r.errors.begin(), set_ck.errors.begin(), set_ck.errors.end());
    if (r.errors.empty()) r.scenario = std::move(sc);
    return r;
}

} // namespace mmemu
