#include "workloads/show.h"

#include <cstdio>
#include <sstream>

namespace mmemu {

using json = nlohmann::ordered_json;

namespace {

// printf into a std::string.
template <class... A> std::string fmt(const char* f, A... a) {
    char buf[512];
    std::snprintf(buf, sizeof buf, f, a...);
    return buf;
}

// A member, or null when `o` is not an object or has no such member (a hostile file).
const json& at(const json& o, const char* k) {
    static const json null;
    if (!o.is_object()) return null;
    const auto it = o.find(k);
    return it == o.end() ? null : *it;
}

long long num(const json& v) {
    return v.is_number() ? v.get<long long>() : 0;
}

std::string str(const json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
}

// fs/proc/meminfo.c: the name and colon padded to 16, the value in 8 columns, " kB".
std::string kb_line(const std::string& name, const json& v) {
    return fmt("%-16s%8lld kB\n", (name + ":").c_str(), num(v));
}

std::string meminfo(const json& s) {
    std::string o;
    for (auto it = s.begin(); it != s.end(); ++it) o += kb_line(it.key(), *it);
    return o;
}

// /proc/vmstat: "name value".
std::string vmstat(const json& s) {
    std::string o;
    for (auto it = s.begin(); it != s.end(); ++it) o += it.key() + " " + str(*it) + "\n";
    return o;
}

// mm/vmstat.c frag_show_print: "Node %d, zone %8s " and "%6lu " per order.
std::string buddyinfo(const json& s) {
    std::string o;
    for (const auto& r : s) {
        o += fmt("Node %lld, zone %8s ", num(at(r, "node")), str(at(r, "zone")).c_str());
        for (const auto& n : at(r, "nr_free")) o += fmt("%6lld ", num(n));
        o += "\n";
    }
    return o;
}

// mm/vmstat.c pagetypeinfo_show and its helpers.
std::string pagetypeinfo(const json& s) {
    std::string o = fmt("Page block order: %lld\nPages per block:  %lld\n\n",
                        num(at(s, "page_block_order")), num(at(s, "pages_per_block")));
    size_t orders = 0;
    for (const auto& r : at(s, "free")) orders = std::max(orders, at(r, "nr_free").size());
    o += fmt("%-44s", "Free pages count per migrate type at order");
    for (size_t i = 0; i < orders; ++i) o += fmt("%6zu ", i);
    o += "\n";
    for (const auto& r : at(s, "free")) {
        o += fmt("Node %4lld, zone %8s, type %12s ", num(at(r, "node")), str(at(r, "zone")).c_str(),
                 str(at(r, "type")).c_str());
        for (const auto& n : at(r, "nr_free")) o += fmt("%6lld ", num(n));
        o += "\n";
    }
    const json& blocks = at(s, "blocks");
    if (blocks.is_array() && !blocks.empty() && blocks[0].is_object()) {
        o += fmt("\n%-23s", "Number of blocks type ");
        std::vector<std::string> types;
        for (auto it = blocks[0].begin(); it != blocks[0].end(); ++it)
            if (it.key() != "node" && it.key() != "zone") types.push_back(it.key());
        for (const auto& t : types) o += fmt("%12s ", t.c_str());
        o += "\n";
        for (const auto& r : blocks) {
            o += fmt("Node %lld, zone %8s ", num(at(r, "node")), str(at(r, "zone")).c_str());
            for (const auto& t : types) o += fmt("%12lld ", num(at(r, t.c_str())));
            o += "\n";
        }
    }
    return o;
}

// mm/vmstat.c zoneinfo_show_print.
std::string zoneinfo(const json& s) {
    static const char* const head[] = {"boost",   "min",     "low",     "high", "promo",
                                       "spanned", "present", "managed", "cma"};
    static const char* const skip[] = {
        "node",       "zone",     "pages_free", "boost",
        "min",        "low",      "high",       "promo",
        "spanned",    "present",  "managed",    "cma",
        "protection", "pagesets", "start_pfn",  "reserved_highatomic"};
    std::string o;
    for (const auto& z : s) {
        o += fmt("Node %lld, zone %8s", num(at(z, "node")), str(at(z, "zone")).c_str());
        o += fmt("\n  pages free     %lld", num(at(z, "pages_free")));
        for (const char* k : head) o += fmt("\n        %-8s %lld", k, num(at(z, k)));
        o += "\n        protection: (";
        for (size_t i = 0; i < at(z, "protection").size(); ++i)
            o += fmt(i ? ", %lld" : "%lld", num(at(z, "protection")[i]));
        o += ")";
        for (auto it = z.begin(); it != z.end(); ++it) {
            bool skipped = false;
            for (const char* k : skip) skipped |= it.key() == k;
            if (!skipped) o += fmt("\n      %-12s %s", it.key().c_str(), str(*it).c_str());
        }
        o += "\n  pagesets";
        for (const auto& p : at(z, "pagesets")) {
            o += fmt("\n    cpu: %lld", num(at(p, "cpu")));
            o += fmt("\n              count:    %lld", num(at(p, "count")));
            o += fmt("\n              high:     %lld", num(at(p, "high")));
            o += fmt("\n              batch:    %lld", num(at(p, "batch")));
        }
        if (z.contains("start_pfn"))
            o += fmt("\n  start_pfn:           %lld", num(at(z, "start_pfn")));
        o += "\n";
    }
    return o;
}

// mm/slab_common.c: the version line, the legend, a row per cache.
std::string slabinfo(const json& s) {
    std::string o =
        "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> "
        "<objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata "
        "<active_slabs> <num_slabs> <sharedavail>\n";
    for (const auto& r : s)
        o += fmt("%-17s %6lld %6lld %6lld %4lld %4lld : tunables %4lld %4lld %4lld : slabdata "
                 "%6lld %6lld %6lld\n",
                 str(at(r, "name")).c_str(), num(at(r, "active_objs")), num(at(r, "num_objs")),
                 num(at(r, "objsize")), num(at(r, "objperslab")), num(at(r, "pagesperslab")),
                 num(at(r, "limit")), num(at(r, "batchcount")), num(at(r, "sharedfactor")),
                 num(at(r, "active_slabs")), num(at(r, "num_slabs")), num(at(r, "sharedavail")));
    return o;
}

bool live(const json& p) {
    return p.contains("VmRSS"); // an exited task keeps only its identity and fault counts
}

// fs/proc/array.c task_mem: "Name:\t%8lu kB" for the memory lines.
std::string status(const json& s) {
    static const char* const kb[] = {"VmPeak",  "VmSize",   "VmLck",  "VmHWM", "VmRSS", "RssAnon",
                                     "RssFile", "RssShmem", "VmData", "VmStk", "VmExe", "VmPTE"};
    std::string o;
    for (const auto& p : s) {
        if (!live(p)) continue;
        o += fmt("==> /proc/%lld/status <==\nName:\t%s\nTgid:\t%lld\nPid:\t%lld\nPPid:\t%lld\n",
                 num(at(p, "pid")), str(at(p, "name")).c_str(), num(at(p, "tgid")),
                 num(at(p, "pid")), num(at(p, "ppid")));
        for (const char* k : kb)
            if (p.contains(k)) o += fmt("%s:\t%8lld kB\n", k, num(at(p, k)));
        o += "\n";
    }
    return o.empty() ? "(no live process)\n" : o;
}

// fs/proc/task_mmu.c show_smaps_rollup: the [rollup] header, then "%-16s%8lu kB" lines.
std::string smaps_rollup(const json& s) {
    static const char* const kb[] = {
        "Rss",          "Pss",          "Pss_Dirty",     "Pss_Anon",      "Pss_File",   "Pss_Shmem",
        "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced", "Anonymous",
        "KSM",          "LazyFree",     "Swap",          "SwapPss",       "Locked"};
    std::string o;
    for (const auto& p : s) {
        if (!live(p)) continue;
        o += fmt("==> /proc/%lld/smaps_rollup <== (%s)\n[rollup]\n", num(at(p, "pid")),
                 str(at(p, "name")).c_str());
        for (const char* k : kb)
            if (p.contains(k)) o += kb_line(k, at(p, k));
        o += "\n";
    }
    return o.empty() ? "(no live process)\n" : o;
}

// /sys/kernel/mm/ksm as `grep . /sys/kernel/mm/ksm/*` prints it.
std::string ksm(const json& s) {
    std::string o;
    for (auto it = s.begin(); it != s.end(); ++it)
        o += "/sys/kernel/mm/ksm/" + it.key() + ":" + str(*it) + "\n";
    return o;
}

// drivers/base/node.c node_read_numastat: "name value" lines, a file per node.
std::string numastat(const json& s) {
    static const char* const keys[] = {"numa_hit",       "numa_miss",  "numa_foreign",
                                       "interleave_hit", "local_node", "other_node"};
    std::string o;
    for (const auto& n : s) {
        o += fmt("==> /sys/devices/system/node/node%lld/numastat <==\n", num(at(n, "node")));
        for (const char* k : keys) o += fmt("%s %lld\n", k, num(at(n, k)));
        o += "\n";
    }
    return o;
}

struct Section {
    const char* name;
    const char* key; // the state's member it reads
    std::string (*print)(const json&);
};

const Section kSections[] = {
    {"meminfo", "meminfo", meminfo},
    {"vmstat", "vmstat", vmstat},
    {"numastat", "numastat", numastat},
    {"buddyinfo", "buddyinfo", buddyinfo},
    {"pagetypeinfo", "pagetypeinfo", pagetypeinfo},
    {"zoneinfo", "zoneinfo", zoneinfo},
    {"slabinfo", "slabinfo", slabinfo},
    {"status", "processes", status},
    {"smaps_rollup", "processes", smaps_rollup},
    {"ksm", "ksm", ksm},
};

} // namespace

const std::vector<std::string>& show_section_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (const auto& s : kSections) n.push_back(s.name);
        return n;
    }();
    return names;
}

std::optional<std::string> show_sections(const json& stats,
                                         const std::vector<std::string>& sections,
                                         const std::string& checkpoint, std::string& error) {
    const json* state = nullptr;
    if (checkpoint.empty() || checkpoint == "final") {
        if (stats.contains("final") && at(stats, "final").is_object()) state = &at(stats, "final");
        if (!state) {
            error = "the file has no final state (written with --sections without final?)";
            return std::nullopt;
        }
    } else {
        if (stats.contains("checkpoints") && at(stats, "checkpoints").is_array())
            for (const auto& c : at(stats, "checkpoints"))
                if (c.is_object() && c.contains("name") && at(c, "name") == checkpoint &&
                    c.contains("state") && at(c, "state").is_object())
                    state = &at(c, "state");
        if (!state) {
            error = "the file has no checkpoint named \"" + checkpoint + "\"";
            return std::nullopt;
        }
    }
    if (state->contains("cpus") && !state->contains("meminfo")) {
        error = "a bare-machine scenario's state has no /proc files (its CPUs are in the JSON)";
        return std::nullopt;
    }
    std::vector<const Section*> chosen;
    for (const auto& name : sections) {
        const Section* found = nullptr;
        for (const auto& s : kSections)
            if (name == s.name) found = &s;
        if (!found) {
            std::string list;
            for (const auto& s : kSections) list += std::string(list.empty() ? "" : ", ") + s.name;
            error = "unknown section \"" + name + "\" (the sections: " + list + ")";
            return std::nullopt;
        }
        if (!state->contains(found->key)) {
            error = "the state has no " + std::string(found->key);
            return std::nullopt;
        }
        chosen.push_back(found);
    }
    if (sections.empty())
        for (const auto& s : kSections)
            if (state->contains(s.key)) chosen.push_back(&s);
    std::string out;
    try {
        for (const Section* s : chosen) {
            if (chosen.size() > 1) {
                const bool blank =
                    out.empty() || out.size() < 2 || out.substr(out.size() - 2) == "\n\n";
                out += std::string(blank ? "" : "\n") + "## " + s->name + "\n";
            }
            out += s->print((*state)[s->key]);
        }
    } catch (const json::exception& e) {
        error = std::string("the state is not in the statistics format: ") + e.what();
        return std::nullopt;
    }
    return out;
}

} // namespace mmemu
