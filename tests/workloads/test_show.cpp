// `mmemu show` and the row-per-line JSON: the /proc layouts, checked against lines of this
// format copied from a Linux 6.18 machine's /proc files (the column widths are the kernel's
// printf formats: mm/vmstat.c, mm/slab_common.c, fs/proc/meminfo.c, fs/proc/task_mmu.c), and
// hostile files that must give an error, not a crash.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "workloads/json_rows.h"
#include "workloads/show.h"

using namespace mmemu;
using ojson = nlohmann::ordered_json;

namespace {

ojson stats() {
    return ojson::parse(R"({"mmemu_stats": 1, "final": {
      "meminfo": {"MemTotal": 24683548, "MemFree": 24050796},
      "vmstat": {"nr_free_pages": 1929183, "numa_hit": 7},
      "numastat": [{"node": 0, "numa_hit": 951719365, "numa_miss": 0, "numa_foreign": 0,
                    "interleave_hit": 1108, "local_node": 951719365, "other_node": 0}],
      "buddyinfo": [{"node": 0, "zone": "DMA", "nr_free": [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3]},
                    {"node": 0, "zone": "Normal", "nr_free": [2813, 5418, 3271, 4701, 3260, 1917, 716, 348, 221, 274, 673]}],
      "pagetypeinfo": {"page_block_order": 9, "pages_per_block": 512,
        "free": [{"node": 0, "zone": "DMA", "type": "Unmovable", "nr_free": [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]}],
        "blocks": [{"node": 0, "zone": "DMA", "Unmovable": 1, "Movable": 7, "Reclaimable": 0, "HighAtomic": 0, "Isolate": 0}]},
      "zoneinfo": [{"node": 0, "zone": "DMA", "pages_free": 3840, "boost": 0, "min": 31, "low": 38,
        "high": 45, "promo": 52, "spanned": 4095, "present": 3998, "managed": 3840, "cma": 0,
        "protection": [0, 3018, 8138, 8138, 8138], "nr_free_pages": 3840, "nr_mlock": 0,
        "pagesets": [{"cpu": 0, "count": 0, "high": 0, "batch": 1}], "start_pfn": 1}],
      "slabinfo": [{"name": "btrfs_delayed_node", "active_objs": 0, "num_objs": 0, "objsize": 312,
        "objperslab": 13, "pagesperslab": 1, "limit": 0, "batchcount": 0, "sharedfactor": 0,
        "active_slabs": 0, "num_slabs": 0, "sharedavail": 0}],
      "processes": [{"pid": 1, "name": "init", "tgid": 1, "ppid": 0, "VmPeak": 3892, "VmRSS": 1624,
                     "Rss": 1624, "Pss": 707},
                    {"pid": 2, "name": "gone", "tgid": 2, "ppid": 1, "state": "exited"}],
      "ksm": {"advisor_max_cpu": 70, "pages_shared": 0}},
     "checkpoints": [{"name": "early", "event": 0, "state": {"meminfo": {"MemTotal": 1}}}]})");
}

std::string show(const ojson& s, std::vector<std::string> sections, const std::string& cp = "") {
    std::string error;
    auto out = show_sections(s, sections, cp, error);
    INFO(error);
    REQUIRE(out);
    return *out;
}

} // namespace

TEST_CASE("show: each section in the kernel's layout", "[show]") {
    const ojson s = stats();
    // Lines as a 6.18 machine prints them.
    CHECK(show(s, {"meminfo"}) == "MemTotal:       24683548 kB\nMemFree:        24050796 kB\n");
    CHECK(show(s, {"vmstat"}) == "nr_free_pages 1929183\nnuma_hit 7\n");
    // /sys/devices/system/node/node0/numastat of this machine, under a heading per node.
    CHECK(show(s, {"numastat"}) == "==> /sys/devices/system/node/node0/numastat <==\n"
                                   "numa_hit 951719365\nnuma_miss 0\nnuma_foreign 0\n"
                                   "interleave_hit 1108\nlocal_node 951719365\nother_node 0\n\n");
    CHECK(show(s, {"buddyinfo"}) ==
          "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1 "
          "     1      3 \n"
          "Node 0, zone   Normal   2813   5418   3271   4701   3260   1917    716    348    221 "
          "   274    673 \n");
    CHECK(
        show(s, {"pagetypeinfo"}) ==
        "Page block order: 9\nPages per block:  512\n\n"
        "Free pages count per migrate type at order       0      1      2      3      4      5 "
        "     6      7      8      9     10 \n"
        "Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0 "
        "     0      0      1      0      0 \n\n"
        "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate "
        "\nNode 0, zone      DMA            1            7            0            0            0 "
        "\n");
    CHECK(show(s, {"zoneinfo"}) == "Node 0, zone      DMA\n"
                                   "  pages free     3840\n"
                                   "        boost    0\n"
                                   "        min      31\n"
                                   "        low      38\n"
                                   "        high     45\n"
                                   "        promo    52\n"
                                   "        spanned  4095\n"
                                   "        present  3998\n"
                                   "        managed  3840\n"
                                   "        cma      0\n"
                                   "        protection: (0, 3018, 8138, 8138, 8138)\n"
                                   "      nr_free_pages 3840\n"
                                   "      nr_mlock     0\n"
                                   "  pagesets\n"
                                   "    cpu: 0\n"
                                   "              count:    0\n"
                                   "              high:     0\n"
                                   "              batch:    1\n"
                                   "  start_pfn:           1\n");
    const std::string slab = show(s, {"slabinfo"});
    CHECK(slab.find("slabinfo - version: 2.1\n# name            <active_objs> <num_objs>") == 0);
    CHECK(slab.find("\nbtrfs_delayed_node      0      0    312   13    1 : tunables    0    0    0 "
                    ": slabdata      0      0      0\n") != std::string::npos);
    // Live processes only (an exited task has no memory lines).
    const std::string rollup = show(s, {"smaps_rollup"});
    CHECK(rollup.find("Rss:                1624 kB\nPss:                 707 kB\n") !=
          std::string::npos);
    CHECK(rollup.find("/proc/2/") == std::string::npos);
    CHECK(show(s, {"status"}).find("VmPeak:\t    3892 kB\nVmRSS:\t    1624 kB\n") !=
          std::string::npos);
    CHECK(show(s, {"ksm"}) ==
          "/sys/kernel/mm/ksm/advisor_max_cpu:70\n/sys/kernel/mm/ksm/pages_shared:0\n");
    // A checkpoint's state; every section when none is named, each under a heading.
    CHECK(show(s, {"meminfo"}, "early") == "MemTotal:              1 kB\n");
    const std::string all = show(s, {});
    for (const auto& name : show_section_names())
        CHECK(all.find("## " + name + "\n") != std::string::npos);
}

TEST_CASE("show: what is not there is an error, and a hostile file does not crash", "[show]") {
    std::string error;
    CHECK_FALSE(show_sections(stats(), {"meminfoo"}, "", error));
    CHECK(error.find("unknown section \"meminfoo\"") == 0);
    CHECK_FALSE(show_sections(stats(), {"meminfo"}, "late", error));
    CHECK(error == "the file has no checkpoint named \"late\"");
    CHECK_FALSE(show_sections(stats(), {"vmstat"}, "early", error));
    CHECK_FALSE(show_sections(ojson::parse(R"({"mmemu_stats": 1})"), {}, "", error));
    CHECK_FALSE(
        show_sections(ojson::parse(R"({"mmemu_stats": 1, "final": {"cpus": []}})"), {}, "", error));
    CHECK(error.find("bare-machine") != std::string::npos);
    // Wrong shapes everywhere: an error or some text, never a crash.
    for (const char* f :
         {R"({"meminfo": [1, 2]})", R"({"buddyinfo": {"a": 1}})",
          R"({"buddyinfo": [1, "x", null]})", R"({"zoneinfo": [{"protection": "x"}]})",
          R"({"zoneinfo": [{"protection": {"a": 1}, "pagesets": 3}]})",
          R"({"pagetypeinfo": {"blocks": [1]}})", R"({"slabinfo": [[]]})",
          R"({"processes": [{"VmRSS": "x"}]})", R"({"ksm": 3})"}) {
        INFO(f);
        ojson s = ojson::parse(R"({"mmemu_stats": 1})");
        s["final"] = ojson::parse(f);
        (void)show_sections(s, {}, "", error);
    }
}

TEST_CASE("json rows: each /proc-style row on one line, the same JSON once parsed", "[show]") {
    const ojson s = stats();
    const std::string text = dump_rows(s);
    CHECK(ojson::parse(text) == s);
    // A buddyinfo row and a slabinfo row are one line each; meminfo is a member per line.
    CHECK(
        text.find(R"({"node": 0, "zone": "DMA", "nr_free": [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3]})") !=
        std::string::npos);
    CHECK(
        text.find(
            R"({"name": "btrfs_delayed_node", "active_objs": 0, "num_objs": 0, "objsize": 312, "objperslab": 13, "pagesperslab": 1, "limit": 0, "batchcount": 0, "sharedfactor": 0, "active_slabs": 0, "num_slabs": 0, "sharedavail": 0})") !=
        std::string::npos);
    CHECK(text.find("\n      \"MemTotal\": 24683548,\n      \"MemFree\": 24050796\n") !=
          std::string::npos);
    // A zone (it holds its pagesets) is spread out, and its protection array is one line.
    CHECK(text.find("\"protection\": [0, 3018, 8138, 8138, 8138],\n") != std::string::npos);
    CHECK(dump_rows(ojson::array()) == "[]");
    CHECK(dump_rows(ojson::parse(R"({"a": {}, "b": "x\"y"})")) ==
          "{\n  \"a\": {},\n  \"b\": \"x\\\"y\"\n}");
}
