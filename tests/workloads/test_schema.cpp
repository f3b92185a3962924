// docs/scenario.schema.json and the op tables must accept the same events. The shape is compared
// (every op, its fields, which are required), and then the values: for every field of every op a
// set of probe values (the range ends and one past them, every value of a small range, every
// choice, values of the wrong type) is put into an otherwise valid event, and the schema (by a
// small JSON Schema evaluator below) and the scenario compiler must agree on each.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "workloads/op_table.h"
#include "workloads/scenario.h"

#ifndef MMEMU_SOURCE_DIR
#error "MMEMU_SOURCE_DIR must point at the source tree"
#endif

using namespace mmemu;

namespace {

json load_schema() {
    std::ifstream in(std::string(MMEMU_SOURCE_DIR) + "/docs/scenario.schema.json");
    REQUIRE(in.good());
    return json::parse(in);
}

// The part of JSON Schema (2020-12) the scenario schema uses.
bool accepts(const json& root, const json& s, const json& v) {
    if (s.contains("$ref")) {
        const std::string ref = s["$ref"];
        REQUIRE(ref.rfind("#/$defs/", 0) == 0);
        return accepts(root, root["$defs"][ref.substr(8)], v);
    }
    if (s.contains("const") && s["const"] != v) return false;
    if (s.contains("enum")) {
        bool any = false;
        for (const auto& e : s["enum"]) any |= e == v;
        if (!any) return false;
    }
    if (s.contains("type")) {
        // A type name, or a list of them (any one).
        const auto is = [&](const std::string& t) {
            return t == "integer"   ? v.is_number_integer()
                   : t == "number"  ? v.is_number()
                   : t == "string"  ? v.is_string()
                   : t == "boolean" ? v.is_boolean()
                   : t == "array"   ? v.is_array()
                   : t == "object"  ? v.is_object()
                                    : false;
        };
        bool ok = false;
        if (s["type"].is_array())
            for (const auto& t : s["type"]) ok |= is(t.get<std::string>());
        else
            ok = is(s["type"].get<std::string>());
        if (!ok) return false;
    }
    if (v.is_object() && s.contains("minProperties") && v.size() < s["minProperties"].get<size_t>())
        return false;
    if (v.is_number()) {
        if (s.contains("minimum") && v < s["minimum"]) return false;
        if (s.contains("maximum") && v > s["maximum"]) return false;
    }
    if (v.is_string() && s.contains("pattern") &&
        !std::regex_search(v.get<std::string>(), std::regex(s["pattern"].get<std::string>())))
        return false;
    if (v.is_array() && s.contains("minItems") && v.size() < s["minItems"].get<size_t>())
        return false;
    if (v.is_array() && s.contains("items"))
        for (const auto& item : v)
            if (!accepts(root, s["items"], item)) return false;
    if (v.is_object() && s.contains("properties")) {
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (s["properties"].contains(it.key())) {
                if (!accepts(root, s["properties"][it.key()], it.value())) return false;
            } else if (s.value("additionalProperties", json(true)) == false) {
                return false;
            } else if (s["additionalProperties"].is_object() &&
                       !accepts(root, s["additionalProperties"], it.value())) {
                return false;
            }
        }
    } else if (v.is_object() && s.contains("additionalProperties") &&
               s["additionalProperties"].is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it)
            if (!accepts(root, s["additionalProperties"], it.value())) return false;
    }
    if (s.contains("oneOf")) {
        int n = 0;
        for (const auto& alt : s["oneOf"]) n += accepts(root, alt, v);
        if (n != 1) return false;
    }
    if (s.contains("anyOf")) {
        bool any = false;
        for (const auto& alt : s["anyOf"]) any |= accepts(root, alt, v);
        if (!any) return false;
    }
    return true;
}

// The schema's branch for each op name.
std::map<std::string, json> schema_branches(const json& schema) {
    std::map<std::string, json> out;
    for (const auto& b : schema["$defs"]["event"]["oneOf"]) {
        const json& op = b["properties"]["op"];
        std::vector<std::string> names;
        if (op.contains("const")) names.push_back(op["const"]);
        for (const auto& n : op.value("enum", json::array())) names.push_back(n);
        for (const auto& n : names) {
            INFO("op " << n);
            REQUIRE(out.count(n) == 0); // one branch per op
            out[n] = b;
        }
    }
    return out;
}

// A valid event of each op, after the setup events that give it something to work on; `alt`
// gives another valid event for probing a field that only makes sense with other fields.
struct Probe {
    json base;
    std::map<std::string, json> alt;
};

const char* KERNEL_SETUP = R"([
  {"op": "alloc_pages", "id": "p"},
  {"op": "kmem_cache_create", "cache": "c", "size": 64},
  {"op": "kmem_cache_create", "cache": "d", "size": 64},
  {"op": "kmem_cache_alloc", "cache": "c", "id": "o"},
  {"op": "kmalloc", "id": "k", "size": 64},
  {"op": "spawn", "process": "p"},
  {"op": "spawn", "process": "q"},
  {"op": "mmap", "process": "p", "region": "r", "length": 8192}
])";

std::map<std::string, Probe> probes() {
    auto j = [](const char* t) { return json::parse(t); };
    std::map<std::string, Probe> p;
    p["checkpoint"] = {j(R"({"op": "checkpoint", "name": "x"})"), {}};
    p["barrier"] = {j(R"({"op": "barrier"})"), {}};
    p["alloc_pages"] = {j(R"({"op": "alloc_pages", "id": "n"})"), {}};
    p["free_pages"] = {j(R"({"op": "free_pages", "id": "p"})"), {}};
    p["kmem_cache_create"] = {j(R"({"op": "kmem_cache_create", "cache": "n", "size": 64})"), {}};
    p["kmem_cache_alloc"] = {j(R"({"op": "kmem_cache_alloc", "cache": "c", "id": "n"})"), {}};
    p["kmem_cache_free"] = {
        j(R"({"op": "kmem_cache_free", "id": "o"})"),
        {{"cache", j(R"({"op": "kmem_cache_free", "id": "o", "cache": "c"})")}}};
    p["kmem_cache_shrink"] = {j(R"({"op": "kmem_cache_shrink", "cache": "c"})"), {}};
    p["kmem_cache_destroy"] = {j(R"({"op": "kmem_cache_destroy", "cache": "d"})"), {}};
    p["kmalloc"] = {j(R"({"op": "kmalloc", "id": "n", "size": 64})"), {}};
    p["kfree"] = {j(R"({"op": "kfree", "id": "k"})"), {}};
    p["write_object"] = {j(R"({"op": "write_object", "id": "k", "length": 8, "byte": 0})"), {}};
    p["drain_pages"] = {j(R"({"op": "drain_pages"})"), {}};
    p["run"] = {j(R"({"op": "run", "ms": 5})"), {}};
    p["repeat"] = {j(R"({"op": "repeat", "count": 2, "events": [{"op": "run", "ms": 1}]})"), {}};
    p["template"] = {j(R"({"op": "template", "name": "t"})"), {}};
    p["spawn"] = {j(R"({"op": "spawn", "process": "n"})"), {}};
    p["exit"] = {j(R"({"op": "exit", "process": "q"})"), {}};
    p["fork"] = {j(R"({"op": "fork", "process": "p", "child": "c"})"), {}};
    p["clone_thread"] = {j(R"({"op": "clone_thread", "process": "p", "thread": "t"})"), {}};
    p["exec"] = {j(R"({"op": "exec", "process": "p"})"), {}};
    p["wait"] = {j(R"({"op": "wait", "process": "p"})"), {}};
    p["mmap"] = {j(R"({"op": "mmap", "process": "p", "region": "s", "length": 4096})"), {}};
    p["munmap"] = {j(R"({"op": "munmap", "process": "p", "region": "r"})"), {}};
    p["brk"] = {j(R"({"op": "brk", "process": "p", "size": 8192})"), {}};
    p["madvise"] = {
        j(R"({"op": "madvise", "process": "p", "region": "r", "advice": "MADV_DONTNEED"})"), {}};
    p["mlock"] = {j(R"({"op": "mlock", "process": "p", "region": "r"})"), {}};
    p["munlock"] = {j(R"({"op": "munlock", "process": "p", "region": "r"})"), {}};
    p["mlockall"] = {j(R"({"op": "mlockall", "process": "p", "flags": "MCL_CURRENT"})"), {}};
    p["munlockall"] = {j(R"({"op": "munlockall", "process": "p"})"), {}};
    p["mremap"] = {j(R"({"op": "mremap", "process": "p", "region": "r", "new_length": 8192})"), {}};
    p["mprotect"] = {j(R"({"op": "mprotect", "process": "p", "region": "r", "prot": "PROT_READ"})"),
                     {}};
    p["prctl"] = {j(R"({"op": "prctl", "process": "p", "option": "PR_SET_MEMORY_MERGE"})"), {}};
    p["set_mempolicy"] = {
        j(R"({"op": "set_mempolicy", "process": "p", "mode": "MPOL_BIND", "nodes": [0]})"), {}};
    p["ksm"] = {j(R"({"op": "ksm", "run": 1})"), {}};
    p["ksm_wait"] = {j(R"({"op": "ksm_wait"})"), {}};
    p["expect"] = {j(R"({"op": "expect", "values": {"vmstat.pgfault": {"min": 0}}})"), {}};
    p["pagemap"] = {j(R"({"op": "pagemap", "process": "p", "region": "r"})"), {}};
    // distinct is probed beside a key (it counts a key's variants).
    p["write"] = {
        j(R"({"op": "write", "process": "p", "region": "r"})"),
        {{"distinct", j(R"({"op": "write", "process": "p", "region": "r", "key": "k"})")}}};
    p["read"] = {j(R"({"op": "read", "process": "p", "region": "r"})"),
                 {{"distinct", j(R"({"op": "read", "process": "p", "region": "r", "key": "k"})")}}};
    p["touch"] = {j(R"({"op": "touch", "process": "p", "region": "r"})"), {}};
    p["fill"] = {j(R"({"op": "fill", "process": "p", "region": "r"})"), {}};
    p["copy"] = {j(R"({"op": "copy", "process": "p", "region": "r", "from": "r"})"), {}};
    p["set_cr"] = {j(R"({"op": "set_cr", "cr": 0, "value": "0x11"})"), {}};
    p["wrmsr"] = {j(R"({"op": "wrmsr", "msr": "IA32_EFER", "value": 0})"), {}};
    p["set_rflags"] = {j(R"({"op": "set_rflags", "value": 2})"), {}};
    p["wrpkru"] = {j(R"({"op": "wrpkru", "value": 0})"), {}};
    for (const char* op : {"write_phys", "expect_phys"}) {
        const std::string o = op;
        p[o] = {json{{"op", o}, {"addr", 16}, {"bytes", "00"}},
                {{"u32", json{{"op", o}, {"addr", 16}, {"u32", {1}}}},
                 {"u64", json{{"op", o}, {"addr", 16}, {"u64", {1}}}}}};
    }
    p["access"] = {
        j(R"({"op": "access", "type": "read", "la": 16})"),
        {{"seg", j(R"({"op": "access", "type": "read", "seg": "ds", "offset": 16})")},
         {"offset", j(R"({"op": "access", "type": "read", "seg": "ds", "offset": 16})")},
         {"value", j(R"({"op": "access", "type": "write", "la": 16, "value": 1})")},
         {"fill", j(R"({"op": "access", "type": "write", "la": 16, "size": 16, "fill": 1})")}}};
    p["invlpg"] = {j(R"({"op": "invlpg", "la": 16})"), {}};
    p["invpcid"] = {j(R"({"op": "invpcid", "type": 2})"),
                    {{"pcid", j(R"({"op": "invpcid", "type": 1, "pcid": 1})")},
                     {"la", j(R"({"op": "invpcid", "type": 0, "pcid": 1, "la": 16})")}}};
    p["load_gdt"] = {j(R"({"op": "load_gdt", "layout": "linux_boot", "addr": 4096})"), {}};
    p["lgdt"] = {j(R"({"op": "lgdt", "base": 4096, "limit": 31})"), {}};
    p["load_segment"] = {j(R"({"op": "load_segment", "reg": "ds", "selector": 0})"), {}};
    return p;
}

// Does the compiler accept `event` (after the setup events of its mode)?
bool compiles(const OpSpec& spec, const json& event, std::string& errors) {
    json doc;
    doc["mmemu_scenario"] = 1;
    // The most CPUs and nodes a machine can have, so that every declared cpu and node exists.
    doc["machine"] = {{"memory", "128MiB"}, {"cpus", 64}, {"numa", {{"nodes", 8}}}};
    // A template for the template op's probes.
    doc["templates"] = json::parse(R"({"t": {"events": [{"op": "run", "ms": 1}]}})");
    json events = json::array();
    if (spec.mode == OpMode::bare) {
        doc["mode"] = "bare";
    } else {
        events = json::parse(KERNEL_SETUP);
    }
    events.push_back(event);
    doc["events"] = events;
    CompileResult r = compile_scenario("probe.json", doc.dump());
    errors.clear();
    for (const auto& d : r.errors) errors += format_diagnostic("probe.json", d) + "\n";
    return r.errors.empty();
}

// Values to try in a field of this kind, besides its declared range and choices.
std::vector<json> probe_values(const FieldSpec& f) {
    // Wrong types for most kinds. A string field (an id, a cache, a name) is probed by type only:
    // which names are defined is the compiler's business, not the schema's.
    std::vector<json> v = {json(nullptr), json(true), json::array(), json::object(), json(1.5)};
    if (f.kind != FieldKind::string) v.push_back("x");
    switch (f.kind) {
    case FieldKind::integer: {
        v.push_back(f.min - 1);
        v.push_back(f.max + 1);
        v.push_back(std::to_string(f.min));
        if (f.max - f.min <= 300)
            for (int64_t x = f.min; x <= f.max; x++) v.push_back(x);
        else
            for (int64_t x : {f.min, f.min + 1, f.min + (f.max - f.min) / 2, f.max - 1, f.max})
                v.push_back(x);
        break;
    }
    case FieldKind::number:
        for (const char* s : {"0x10", "16", "010", "0x", "-1", "0xg", " 16", "1e3", "0X10"})
            v.push_back(s);
        v.push_back(16);
        v.push_back(-1);
        break;
    case FieldKind::enumeration:
        for (const char* c : f.choices) v.push_back(c);
        v.push_back("bogus");
        v.push_back(0);
        break;
    case FieldKind::boolean:
        v.push_back(false);
        v.push_back(1);
        v.push_back("true");
        break;
    case FieldKind::gfp:
        for (const char* s : {"GFP_KERNEL", "GFP_KERNEL | __GFP_ZERO", "gfp_kernel"})
            v.push_back(s);
        v.push_back(json::array({"GFP_ATOMIC"}));
        v.push_back(json::array({1}));
        break;
    case FieldKind::slab_flags:
        for (const char* s :
             {"SLAB_HWCACHE_ALIGN", "SLAB_POISON", "SLAB_RED_ZONE", "SLAB_STORE_USER",
              "SLAB_CACHE_DMA", "SLAB_RECLAIM_ACCOUNT", "SLAB_PANIC", "SLAB_SHINY"}) {
            v.push_back(s);
            v.push_back(json::array({s}));
        }
        break;
    case FieldKind::bytes:
        for (const char* s : {"00ff", "00 ff", "00:ff", "0", "zz", ""}) v.push_back(s);
        v.push_back(json::array({0, 255}));
        v.push_back(json::array({256}));
        v.push_back(json::array({"0x10"}));
        break;
    case FieldKind::numbers:
        v.push_back(json::array({1, "0x2"}));
        v.push_back(json::array({-1}));
        break;
    case FieldKind::string:
    case FieldKind::size:
    case FieldKind::object: break;
    }
    return v;
}

} // namespace

TEST_CASE("schema: the same ops, fields and required fields as the op tables",
          "[workloads][schema]") {
    const json schema = load_schema();
    const auto branches = schema_branches(schema);
    std::set<std::string> table_ops;
    for (const auto& fam : op_families())
        for (const auto& spec : *fam.ops) {
            INFO("op " << spec.name);
            table_ops.insert(spec.name);
            REQUIRE(branches.count(spec.name) == 1);
            const json& b = branches.at(spec.name);
            CHECK(b.value("additionalProperties", true) == false);
            std::set<std::string> schema_fields, table_fields, schema_required, table_required;
            for (auto it = b["properties"].begin(); it != b["properties"].end(); ++it)
                if (it.key() != "op") schema_fields.insert(it.key());
            for (const auto& r : b.value("required", json::array())) schema_required.insert(r);
            for (const auto& f : spec.fields) {
                table_fields.insert(f.name);
                if (f.required) table_required.insert(f.name);
            }
            CHECK(schema_fields == table_fields);
            CHECK(schema_required == table_required);
        }
    for (const auto& [name, b] : branches) {
        INFO("schema op " << name);
        CHECK(table_ops.count(name) == 1);
    }
}

TEST_CASE("schema: the schema and the compiler accept the same field values",
          "[workloads][schema]") {
    const json schema = load_schema();
    const auto branches = schema_branches(schema);
    const auto base = probes();
    for (const auto& fam : op_families())
        for (const auto& spec : *fam.ops) {
            INFO("op " << spec.name);
            REQUIRE(base.count(spec.name) == 1);
            const Probe& pr = base.at(spec.name);
            const json& branch = branches.at(spec.name);
            std::string errors;
            {
                INFO("the base event: " << pr.base.dump() << "\n" << errors);
                REQUIRE(compiles(spec, pr.base, errors));
                REQUIRE(accepts(schema, branch, pr.base));
            }
            for (const auto& f : spec.fields) {
                const json& start = pr.alt.count(f.name) ? pr.alt.at(f.name) : pr.base;
                for (const json& value : probe_values(f)) {
                    json event = start;
                    event[f.name] = value;
                    const bool by_compiler = compiles(spec, event, errors);
                    bool by_schema = accepts(schema, branch, event);
                    // The one limit the schema cannot state: a slab object is at least a word,
                    // 4 bytes on i386 and PAE (the schema's minimum) but 8 on x86_64 (this
                    // machine).
                    if (std::string(spec.name) == "kmem_cache_create" &&
                        std::string(f.name) == "size" && value.is_number_integer() &&
                        value.get<int64_t>() >= 4 && value.get<int64_t>() < 8)
                        by_schema = false;
                    INFO("field " << f.name << " = " << value.dump()
                                  << "\ncompiler: " << (errors.empty() ? "accepts" : errors));
                    CHECK(by_compiler == by_schema);
                }
            }
        }
}
