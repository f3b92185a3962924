#include "workloads/trace_writer.h"

#include <charconv>
#include <cstring>

#include "mmemu_version.h"
#include "system/system.h"

namespace mmemu {

namespace {

constexpr size_t FLUSH_AT = size_t{1} << 20;
// Every track is a thread of one process (pid 1): the scenario's events first, then the CPUs in
// order, then ksmd.
constexpr unsigned PID = 1;
constexpr unsigned EVENTS_TID = 1;

const char* const KSM_COUNTERS[] = {"pages_shared",   "pages_sharing",  "pages_unshared",
                                    "pages_volatile", "ksm_zero_pages", "full_scans"};

} // namespace

std::unique_ptr<TraceWriter> TraceWriter::open(const std::string& path, uint64_t max_events,
                                               std::string& error) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        error = std::string("cannot open it for writing: ") + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<TraceWriter>(new TraceWriter(f, path, max_events));
}

TraceWriter::TraceWriter(std::FILE* f, std::string path, uint64_t max_events)
    : f_(f), path_(std::move(path)), max_events_(max_events) {
    buf_.reserve(FLUSH_AT + 4096);
    // The time unit the viewer shows (the timestamps themselves are microseconds).
    buf_ += "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
}

TraceWriter::~TraceWriter() {
    if (f_) std::fclose(f_);
}

unsigned TraceWriter::tid(unsigned track) const {
    if (track == EVENTS) return EVENTS_TID;
    if (track == KSMD) return EVENTS_TID + 1 + nr_cpus_;
    return EVENTS_TID + 1 + track;
}

void TraceWriter::flush_buffer() {
    if (buf_.empty()) return;
    if (!io_error_ && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) io_error_ = true;
    buf_.clear();
}

void TraceWriter::number(uint64_t v) {
    char tmp[24];
    const auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, r.ptr);
}

void TraceWriter::signed_number(int64_t v) {
    char tmp[24];
    const auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, r.ptr);
}

// Microseconds with the nanoseconds as three decimals (exact: no floating point).
void TraceWriter::timestamp(uint64_t ns) {
    number(ns / 1000);
    const unsigned frac = unsigned(ns % 1000);
    buf_ += '.';
    buf_ += char('0' + frac / 100);
    buf_ += char('0' + frac / 10 % 10);
    buf_ += char('0' + frac % 10);
}

// A JSON string: quotes, backslashes and control characters escaped (process names come from
// the scenario).
void TraceWriter::text(const char* s) {
    static const char hex[] = "0123456789abcdef";
    buf_ += '"';
    for (; *s; s++) {
        const auto c = static_cast<unsigned char>(*s);
        if (c == '"' || c == '\\') {
            buf_ += '\\';
            buf_ += char(c);
        } else if (c < 0x20) {
            buf_ += "\\u00";
            buf_ += hex[c >> 4];
            buf_ += hex[c & 15];
        } else {
            buf_ += char(c);
        }
    }
    buf_ += '"';
}

bool TraceWriter::start_event(char phase, unsigned track, const char* category, const char* name,
                              uint64_t at_ns) {
    if (written_ >= max_events_) {
        if (dropped_++ == 0) {
            // Where the trace stops, marked on the events' track (one event past the limit).
            buf_ += ",\n{\"ph\":\"i\",\"s\":\"g\",\"pid\":1,\"tid\":1,\"ts\":";
            timestamp(at_ns);
            buf_ += ",\"cat\":\"mmemu\",\"name\":\"trace limit reached: the rest is left out\"}";
        }
        return false;
    }
    written_++;
    buf_ += first_ ? "\n" : ",\n";
    first_ = false;
    buf_ += "{\"ph\":\"";
    buf_ += phase;
    buf_ += "\",\"pid\":";
    number(PID);
    if (phase != 'C') {
        buf_ += ",\"tid\":";
        number(tid(track));
    }
    buf_ += ",\"ts\":";
    timestamp(at_ns);
    if (category) {
        buf_ += ",\"cat\":";
        text(category);
    }
    buf_ += ",\"name\":";
    text(name);
    return true;
}

void TraceWriter::args(TraceArgs args) {
    if (args.size() == 0) return;
    buf_ += ",\"args\":{";
    bool first = true;
    for (const TraceArg& a : args) {
        if (!first) buf_ += ',';
        first = false;
        text(a.key);
        buf_ += ':';
        if (a.text) {
            text(a.text);
        } else if (a.hex) {
            char tmp[24] = "0x";
            const auto r = std::to_chars(tmp + 2, tmp + sizeof tmp, a.value, 16);
            buf_ += '"';
            buf_.append(tmp, r.ptr);
            buf_ += '"';
        } else {
            number(a.value);
        }
    }
    buf_ += '}';
}

void TraceWriter::end_event() {
    buf_ += '}';
    if (buf_.size() >= FLUSH_AT) flush_buffer();
}

void TraceWriter::metadata(unsigned t, const char* what, const std::string& value,
                           bool sort_index) {
    buf_ += first_ ? "\n" : ",\n";
    first_ = false;
    buf_ += "{\"ph\":\"M\",\"pid\":1,\"tid\":";
    number(t);
    buf_ += ",\"name\":";
    text(what);
    buf_ += ",\"args\":{";
    if (sort_index) {
        buf_ += "\"sort_index\":";
        buf_ += value;
    } else {
        buf_ += "\"name\":";
        text(value.c_str());
    }
    buf_ += "}}";
}

void TraceWriter::begin(const System& sys, const std::string& scenario_name) {
    nr_cpus_ = sys.machine().nr_cpus();
    metadata(EVENTS_TID, "process_name", "mmemu: " + scenario_name, false);
    metadata(EVENTS_TID, "thread_name", "scenario events", false);
    metadata(EVENTS_TID, "thread_sort_index", "0", true);
    for (unsigned c = 0; c < nr_cpus_; c++) {
        metadata(tid(c), "thread_name", "CPU " + std::to_string(c), false);
        metadata(tid(c), "thread_sort_index", std::to_string(1 + c), true);
    }
    if (sys.ksmd()) {
        metadata(tid(KSMD), "thread_name", "ksmd", false);
        metadata(tid(KSMD), "thread_sort_index", std::to_string(1 + nr_cpus_), true);
    }
    if (!sys.bare())
        for (const pglist_data& n : sys.kernel().buddy.nodes)
            for (unsigned z = 0; z < MAX_NR_ZONES; z++)
                if (n.node_zones[z].managed()) {
                    zones_.emplace_back(n.node_id, z);
                    zone_names_.push_back("Node " + std::to_string(n.node_id) + " " +
                                          std::string(zone_type_name(n.node_zones[z].type)));
                }
}

void TraceWriter::slice(unsigned track, const char* category, const char* name, uint64_t begin_ns,
                        uint64_t end_ns, TraceArgs a) {
    if (!start_event('X', track, category, name, begin_ns)) return;
    buf_ += ",\"dur\":";
    timestamp(end_ns >= begin_ns ? end_ns - begin_ns : 0);
    args(a);
    end_event();
}

void TraceWriter::instant(unsigned track, const char* category, const char* name, uint64_t at_ns,
                          TraceArgs a) {
    if (!start_event('i', track, category, name, at_ns)) return;
    buf_ += ",\"s\":\"t\"";
    args(a);
    end_event();
}

void TraceWriter::counters(const System& sys, uint64_t at_ns) {
    if (sys.bare()) return;
    // A counter track's samples go forward in time: ksmd's batch ends and the events' ends
    // interleave, and a batch may end after the next event's end.
    at_ns = std::max(at_ns, last_counter_ns_);
    last_counter_ns_ = at_ns;
    std::vector<int64_t> free;
    free.reserve(zones_.size());
    for (const auto& [nid, z] : zones_)
        free.push_back(sys.kernel().buddy.nodes[nid].node_zones[z].free_pages());
    if (free != last_free_ && start_event('C', 0, nullptr, "free pages", at_ns)) {
        buf_ += ",\"args\":{";
        for (size_t i = 0; i < free.size(); i++) {
            if (i) buf_ += ',';
            text(zone_names_[i].c_str());
            buf_ += ':';
            signed_number(free[i]);
        }
        buf_ += '}';
        end_event();
        last_free_ = std::move(free);
    }
    if (const Ksm* ksm = sys.ksm()) {
        const KsmStats s = ksm->stats();
        const std::vector<int64_t> v{int64_t(s.pages_shared),   int64_t(s.pages_sharing),
                                     int64_t(s.pages_unshared), s.pages_volatile,
                                     s.ksm_zero_pages,          int64_t(s.full_scans)};
        if (v != last_ksm_ && start_event('C', 0, nullptr, "ksm", at_ns)) {
            buf_ += ",\"args\":{";
            for (size_t i = 0; i < v.size(); i++) {
                if (i) buf_ += ',';
                text(KSM_COUNTERS[i]);
                buf_ += ':';
                signed_number(v[i]);
            }
            buf_ += '}';
            end_event();
            last_ksm_ = v;
        }
    }
}

bool TraceWriter::finish(std::string& error) {
    if (!finished_) {
        finished_ = true;
        buf_ += "\n],\"otherData\":{\"generator\":\"mmemu ";
        buf_ += MMEMU_VERSION;
        buf_ += "\",\"clock\":\"virtual time (ts in microseconds)\",\"events_written\":";
        number(written_);
        buf_ += ",\"events_dropped\":";
        number(dropped_);
        buf_ += "}}\n";
        flush_buffer();
        if (std::fflush(f_) != 0) io_error_ = true;
        if (std::fclose(f_) != 0) io_error_ = true;
        f_ = nullptr;
    }
    if (io_error_) {
        error = "cannot write the trace (disk full?)";
        return false;
    }
    return true;
}

} // namespace mmemu
