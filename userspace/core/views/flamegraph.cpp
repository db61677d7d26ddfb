// SPDX-License-Identifier: MIT
#include "core/views/flamegraph.h"

#include "core/base/error.h"
#include "core/base/json_text.h"
#include "core/tracing/kvm_names.h"
#include "core/base/text.h"
#include "hypetrace.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <unordered_map>

namespace ht {

namespace {

bool guest_matches(const std::string& name, const std::string& want) {
    return name == want || (name.size() > want.size() && name.compare(0, want.size(), want) == 0 &&
                            name[want.size()] == ' ');
}

bool is_fault_frame(const std::string& f) {
    return f == "exc_page_fault" || f == "asm_exc_page_fault" || f == "do_user_addr_fault" ||
           f == "handle_mm_fault" || f == "do_kern_addr_fault";
}

std::string frame_safe(std::string s) {
    for (char& c : s)
        if (c == ';' || c == '\n' || c == '\t') c = ':';
    return s;
}

Folded from_map(const std::map<std::string, uint64_t>& m) {
    Folded f;
    f.reserve(m.size());
    for (const auto& [s, c] : m)
        if (c) f.push_back({s, c});
    return f;
}

// A trie of frames: each node's value is the samples of the stacks through it.
struct Node {
    uint32_t name = 0;
    uint64_t value = 0;
    double a = 0;  // diff: the A side's count
    std::vector<uint32_t> kids;
};

struct Tree {
    std::vector<Node> nodes{Node{}};
    std::vector<std::string> names{"all"};
    std::unordered_map<std::string, uint32_t> ids{{"all", 0}};

    uint32_t name_id(std::string_view n) {
        auto [it, fresh] = ids.emplace(std::string(n), uint32_t(names.size()));
        if (fresh) names.emplace_back(n);
        return it->second;
    }
    void add(const std::string& stack, uint64_t value, double a) {
        uint32_t at = 0;
        nodes[0].value += value;
        nodes[0].a += a;
        std::size_t pos = 0;
        while (pos <= stack.size()) {
            std::size_t semi = stack.find(';', pos);
            if (semi == std::string::npos) semi = stack.size();
            const uint32_t nm = name_id(std::string_view(stack).substr(pos, semi - pos));
            uint32_t next = 0;
            for (uint32_t k : nodes[at].kids)
                if (nodes[k].name == nm) next = k;
            if (!next) {
                next = uint32_t(nodes.size());
                nodes.push_back(Node{nm, 0, 0, {}});
                nodes[at].kids.push_back(next);
            }
            nodes[next].value += value;
            nodes[next].a += a;
            at = next;
            pos = semi + 1;
        }
    }
};

// Frames as flat ints [depth, x, width, name] in DFS order (children sorted by name, like
// flamegraph.pl), and for diffs the change of each frame's share.
std::string svg_document(Tree& t, const SvgOptions& o, bool diff, double total_a) {
    std::vector<int64_t> flat;
    std::vector<double> delta;
    int max_depth = 0;
    const double total_b = double(t.nodes[0].value);
    struct Item {
        uint32_t node;
        int depth;
        uint64_t x;
    };
    std::vector<Item> stack{{0, 0, 0}};
    while (!stack.empty()) {
        Item it = stack.back();
        stack.pop_back();
        const Node& n = t.nodes[it.node];
        flat.insert(flat.end(), {it.depth, int64_t(it.x), int64_t(n.value), int64_t(n.name)});
        if (diff)
            delta.push_back((total_b > 0 ? double(n.value) / total_b : 0) - (total_a > 0 ? n.a / total_a : 0));
        max_depth = std::max(max_depth, it.depth);
        std::vector<uint32_t> kids = n.kids;
        std::sort(kids.begin(), kids.end(),
                  [&](uint32_t a, uint32_t b) { return t.names[t.nodes[a].name] < t.names[t.nodes[b].name]; });
        uint64_t x = it.x;
        std::vector<Item> add;
        for (uint32_t k : kids) {
            add.push_back({k, it.depth + 1, x});
            x += t.nodes[k].value;
        }
        for (auto r = add.rbegin(); r != add.rend(); ++r) stack.push_back(*r);
    }
    nlohmann::json data = {{"names", t.names}, {"f", flat},   {"total", t.nodes[0].value}, {"unit", o.unit},
                           {"title", o.title}, {"sub", o.subtitle}, {"diff", diff}};
    if (diff) {
        std::vector<double> rounded;
        for (double d : delta)  // a share's change: within [-1, 1] unless the counts wrapped
            rounded.push_back(std::isfinite(d) ? double(int64_t(std::clamp(d, -1.0, 1.0) * 1e6)) / 1e6 : 0.0);
        data["delta"] = rounded;
    }
    const int fh = 16, top = 60, bottom = 40;
    const int height = top + (max_depth + 1) * fh + bottom;
    std::string svg;
    svg += "<?xml version=\"1.0\" standalone=\"no\"?>\n";
    svg += "<svg version=\"1.1\" width=\"" + std::to_string(o.width) + "\" height=\"" + std::to_string(height) +
           "\" viewBox=\"0 0 " + std::to_string(o.width) + " " + std::to_string(height) +
           "\" xmlns=\"http://www.w3.org/2000/svg\" data-frames=\"" + std::to_string(flat.size() / 4) + "\">\n";
    svg += R"(<style>
text { font-family: Verdana, sans-serif; font-size: 11px; fill: #000; }
#title { font-size: 17px; text-anchor: middle; }
#sub, #details, #matched { font-size: 12px; }
.btn { cursor: pointer; fill: #135; font-size: 12px; }
.f rect { stroke: #fff; stroke-width: 0.5; rx: 2; }
.f:hover rect { stroke: #000; stroke-width: 1; }
.f text { pointer-events: none; }
</style>
<rect x="0" y="0" width="100%" height="100%" fill="#f8f8f8"/>
<text id="title" x="50%" y="24"></text>
<text id="sub" x="10" y="44"></text>
<text id="reset" class="btn" x="10" y="24" visibility="hidden">Reset zoom</text>
<text id="search" class="btn" x=")" + std::to_string(o.width - 110) + R"(" y="24">Search (Ctrl-F)</text>
<text id="matched" x=")" + std::to_string(o.width - 110) + R"(" y="44"></text>
<g id="frames"></g>
<text id="details" x="10" y=")" + std::to_string(height - 14) + R"("> </text>
<script type="text/ecmascript"><![CDATA[
const D = )";
    std::string js = dump_json(data);
    // "]]>" would end the CDATA section early, "</script>" an HTML page the SVG is pasted into:
    // '<' and '>' as JSON escapes.
    for (std::size_t p = 0; (p = js.find_first_of("<>", p)) != std::string::npos;)
        js.replace(p, 1, js[p] == '<' ? "\\u003c" : "\\u003e");
    svg += js;
    svg += ";\nconst W = " + std::to_string(o.width) + ", H = " + std::to_string(height) +
           ", FH = " + std::to_string(fh) + ", BOTTOM = " + std::to_string(bottom) + ";\n";
    svg += R"JS(const NS = "http://www.w3.org/2000/svg";
const svg = document.documentElement;
const F = D.f, N = F.length / 4;
let zx0 = 0, zx1 = D.total, zdepth = 0, term = null;
document.getElementById("title").textContent = D.title;
document.getElementById("sub").textContent = D.sub;
function hash(s) { let h = 0; for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0; return h; }
function colour(k) {
  const name = D.names[F[4 * k + 3]];
  if (term && term.test(name)) return "rgb(230,0,230)";
  if (D.diff) {
    const d = D.delta[k], m = Math.min(1, Math.abs(d) * 20);
    const c = Math.round(255 - 180 * m);
    return d > 0 ? `rgb(255,${c},${c})` : d < 0 ? `rgb(${c},${c},255)` : "rgb(235,235,235)";
  }
  const h = hash(name);
  if (name.endsWith("_[k]")) return `rgb(${200 + h % 55},${110 + h % 60},${40 + h % 30})`;
  if (F[4 * k] <= 1) return `rgb(${180 + h % 40},${180 + h % 40},${190 + h % 40})`;
  return `rgb(${205 + h % 50},${(h >> 8) % 180},${(h >> 16) % 55})`;
}
function label(k) {
  const v = F[4 * k + 2], p = D.total ? (100 * v / D.total).toFixed(2) : "0";
  let s = `${D.names[F[4 * k + 3]]} (${v.toLocaleString()} ${D.unit}, ${p}%`;
  if (D.diff) s += `, ${D.delta[k] >= 0 ? "+" : ""}${(100 * D.delta[k]).toFixed(2)} points`;
  return s + ")";
}
function render() {
  const g = document.getElementById("frames");
  while (g.firstChild) g.removeChild(g.firstChild);
  const scale = (W - 20) / Math.max(1, zx1 - zx0);
  let drawn = 0;
  for (let k = 0; k < N; k++) {
    const d = F[4 * k], x = F[4 * k + 1], w = F[4 * k + 2];
    if (x + w <= zx0 || x >= zx1 || w === 0) continue;
    const x0 = Math.max(x, zx0), x1 = Math.min(x + w, zx1);
    const pw = (x1 - x0) * scale;
    if (pw < 0.3) continue;
    const e = document.createElementNS(NS, "g");
    e.setAttribute("class", "f");
    const r = document.createElementNS(NS, "rect");
    r.setAttribute("x", (10 + (x0 - zx0) * scale).toFixed(1));
    r.setAttribute("y", H - BOTTOM - (d + 1) * FH);
    r.setAttribute("width", pw.toFixed(1));
    r.setAttribute("height", FH - 1);
    r.setAttribute("fill", colour(k));
    const t = document.createElementNS(NS, "title");
    t.textContent = label(k);
    e.appendChild(t);
    e.appendChild(r);
    if (pw > 28) {
      const name = D.names[F[4 * k + 3]], fit = Math.floor((pw - 6) / 6.6);
      const tx = document.createElementNS(NS, "text");
      tx.setAttribute("x", (13 + (x0 - zx0) * scale).toFixed(1));
      tx.setAttribute("y", H - BOTTOM - d * FH - 4);
      tx.textContent = name.length <= fit ? name : name.substring(0, Math.max(0, fit - 2)) + "..";
      e.appendChild(tx);
    }
    e.addEventListener("mouseover", () => { document.getElementById("details").textContent = label(k); });
    e.addEventListener("click", () => { zx0 = x; zx1 = x + w; zdepth = d; render(); });
    g.appendChild(e);
    drawn++;
  }
  document.getElementById("reset").setAttribute("visibility", zx0 === 0 && zx1 === D.total ? "hidden" : "visible");
  svg.setAttribute("data-rendered", drawn);
}
function search() {
  const q = prompt("Search (regular expression), empty to clear", term ? term.source : "");
  if (q === null) return;
  term = q ? new RegExp(q) : null;
  let m = 0;
  if (term) {
    // Count each matching frame once, not again for matching frames below it.
    let until = -1;
    for (let k = 0; k < N; k++) {
      const x = F[4 * k + 1], w = F[4 * k + 2];
      if (x < until) continue;
      if (term.test(D.names[F[4 * k + 3]])) { m += w; until = x + w; }
    }
  }
  document.getElementById("matched").textContent = term ? `Matched: ${(100 * m / Math.max(1, D.total)).toFixed(1)}%` : "";
  render();
}
document.getElementById("reset").addEventListener("click", () => { zx0 = 0; zx1 = D.total; zdepth = 0; render(); });
document.getElementById("search").addEventListener("click", search);
window.addEventListener("keydown", (e) => { if ((e.ctrlKey || e.metaKey) && e.key === "f") { e.preventDefault(); search(); } });
render();
]]></script>
</svg>
)JS";
    return svg;
}

}  // namespace

Folded fold(const TraceData& t, const FoldOptions& o) {
    // Which guests: all, or those --guest names.
    std::map<uint32_t, std::string> names = t.guests;
    names[0] = "host";
    bool any = o.guest.empty();
    std::map<uint32_t, bool> wanted;
    for (const auto& [id, name] : names) {
        wanted[id] = o.guest.empty() || guest_matches(name, o.guest);
        any = any || wanted[id];
    }
    if (!any) {
        std::string list;
        for (const auto& [id, name] : t.guests) list += (list.empty() ? "" : ", ") + name;
        throw UserError("no guest named '" + o.guest + "' in this trace" + (list.empty() ? "" : " (it has: " + list + ")"));
    }
    auto guest_name = [&](uint32_t g) {
        auto it = names.find(g);
        return it != names.end() ? it->second : "guest " + std::to_string(g);
    };
    std::map<std::string, uint64_t> out;

    if (o.of == FlameOf::exits) {
        // VT-x/AMD-V: every exit is a kvm_exit with a reason. Port I/O exits are shown under their
        // reason (IO_INSTRUCTION or IOIO) split by port, MMIO under EPT_MISCONFIG (VMX) or NPF (SVM)
        // split by address; what is left of that reason (fast MMIO on VMX, nested page faults that
        // were not MMIO on SVM) stays on the reason's own frame. Elsewhere (PVM) only port I/O and
        // MMIO are seen, by port and address. Each exit is counted once.
        std::map<uint32_t, uint32_t> isa_of;  // guest -> 1 VMX, 2 SVM, when kvm_exit fired
        for (const auto& c : t.counters)
            if (c.kind == CounterKind::kvm_exit) isa_of[c.guest] = uint32_t(c.sub >> 32);
        const auto dev = t.meta.value("devices", nlohmann::json::object());
        auto device = [&](const std::string& key) {
            return dev.contains(key) ? ";" + frame_safe(dev[key].get<std::string>()) : std::string();
        };
        std::map<std::pair<uint32_t, uint64_t>, std::string> stack_of;  // (guest, HT_HANDLING_*) -> stack
        std::map<std::pair<uint32_t, uint32_t>, uint64_t> folded;       // (guest, reason) -> exits shown below it
        std::map<std::pair<uint32_t, uint32_t>, std::string> reason_stack;
        for (const auto& c : t.counters) {
            if (!wanted.count(c.guest) || !wanted[c.guest]) continue;
            std::string s = o.guest_root ? frame_safe(guest_name(c.guest)) + ";" : "";
            auto isa = isa_of.find(c.guest);
            if (c.kind == CounterKind::kvm_pio) {
                if (isa != isa_of.end()) {
                    s += kvm_exit_reason_name(isa->second, pio_exit_reason(isa->second)) + ";";
                    folded[{c.guest, pio_exit_reason(isa->second)}] += c.value;
                }
                const std::string port = hex(c.sub & 0xffff);
                s += std::string("port I/O ") + ((c.sub >> 16) & 1 ? "out" : "in") + ";" + port + device(port);
                stack_of[{c.guest, HT_HANDLING_PIO | (c.sub & 0x1ffff)}] = s;
            } else if (c.kind == CounterKind::kvm_mmio) {
                if (isa != isa_of.end()) {
                    s += kvm_exit_reason_name(isa->second, mmio_exit_reason(isa->second)) + ";";
                    folded[{c.guest, mmio_exit_reason(isa->second)}] += c.value;
                }
                const std::string gpa = hex(c.sub & 0x00ffffffffffffffULL);
                s += "MMIO;" + gpa + device(gpa);
                stack_of[{c.guest, HT_HANDLING_MMIO | (c.sub & HT_HANDLING_ADDR_MASK)}] = s;
            } else if (c.kind == CounterKind::kvm_exit) {
                const uint32_t isa_v = uint32_t(c.sub >> 32), reason = basic_exit_reason(isa_v, uint32_t(c.sub));
                s += frame_safe(kvm_exit_reason_name(isa_v, reason));
                reason_stack[{c.guest, reason}] = s;
            } else {
                continue;
            }
            out[s] += c.value;
        }
        // The exits shown by port or address come off their reason's own frame (never below 0:
        // an access seen without its exit, e.g. one handled on a completion, is not taken twice).
        for (const auto& [key, n] : folded) {
            auto rs = reason_stack.find(key);
            if (rs == reason_stack.end()) continue;
            uint64_t& left = out[rs->second];
            left -= std::min(left, n);
            if (!left) out.erase(rs->second);
        }
        // Below an exit's device: QEMU's stacks while it handled such exits (CPU samples of the
        // vCPU thread between KVM_RUN calls, tagged in the kernel with the access it handles).
        // The exits are split in proportion to those samples; what rounding leaves stays above.
        const auto guest_of = t.guest_of_process();
        std::map<std::pair<uint32_t, uint64_t>, std::map<std::string, uint64_t>> handled;
        for (const auto& smp : t.profile.samples) {
            if (!smp.handling) continue;
            auto g = guest_of.find(smp.tgid);
            if (g == guest_of.end() || !stack_of.count({g->second, smp.handling})) continue;
            const std::string& comm = comm_of(t.profile, smp);
            std::string q = frame_safe(comm.empty() ? "[unknown]" : comm);
            for (const auto& f : t.profile.stacks.at(smp.ustack)) q += ";" + frame_safe(f);
            for (const auto& f : t.profile.stacks.at(smp.kstack)) q += ";" + frame_safe(f) + "_[k]";
            handled[{g->second, smp.handling}][q] += smp.count;
        }
        for (const auto& [key, stacks] : handled) {
            const std::string& base = stack_of.at(key);
            const uint64_t exits = out[base];
            uint64_t samples = 0, given = 0;
            for (const auto& [q, n] : stacks) samples += n;
            for (const auto& [q, n] : stacks) {
                const uint64_t share = uint64_t(double(exits) * double(n) / double(samples));
                if (!share) continue;
                out[base + ";" + q] += share;
                given += share;
            }
            out[base] -= given;
        }
        return from_map(out);
    }

    // cpu / faults: every distinct (guest, thread name, stacks) once, then the strings. Millions of
    // samples: hashed on the samples' own names, the guest looked up once per run of one process.
    const auto guest_of = t.guest_of_process();
    struct Row {
        uint32_t g, us, ks, comm;  // comm: an id into t.profile.comms
        bool operator==(const Row& o) const { return g == o.g && us == o.us && ks == o.ks && comm == o.comm; }
    };
    struct RowHash {
        std::size_t operator()(const Row& r) const {
            return (std::size_t(r.g) << 32 | r.comm) * 0x9E3779B97F4A7C15ull ^
                   (std::size_t(r.us) << 32 | r.ks) * 0xC2B2AE3D27D4EB4Full;
        }
    };
    std::unordered_map<Row, uint64_t, RowHash> hashed;
    uint32_t last_tgid = 0, guest = 0;
    bool last_wanted = false, have_last = false;
    for (const auto& s : t.profile.samples) {
        if (!have_last || s.tgid != last_tgid) {
            auto it = guest_of.find(s.tgid);
            guest = it == guest_of.end() ? 0 : it->second;
            auto w = wanted.find(guest);
            last_wanted = w == wanted.end() ? o.guest.empty() : w->second;
            last_tgid = s.tgid;
            have_last = true;
        }
        if (last_wanted) hashed[{guest, s.ustack, s.kstack, s.comm}] += s.count;
    }
    std::map<std::tuple<uint32_t, std::string_view, uint32_t, uint32_t>, uint64_t> rows;  // in a stable order
    for (const auto& [r, n] : hashed) {
        const std::string& comm = r.comm < t.profile.comms.size() ? t.profile.comms[r.comm] : t.profile.comms.front();
        rows[{r.g, comm, r.us, r.ks}] += n;
    }
    for (const auto& [k, count] : rows) {
        const auto& [g, comm, us, ks] = k;
        const auto& kframes = t.profile.stacks.at(ks);
        std::size_t from = 0;
        if (o.of == FlameOf::faults) {
            auto f = std::find_if(kframes.begin(), kframes.end(), is_fault_frame);
            if (f == kframes.end()) continue;
            from = std::size_t(f - kframes.begin());
        }
        std::string s = o.guest_root ? frame_safe(guest_name(g)) + ";" : "";
        s += frame_safe(comm.empty() ? std::string("[unknown]") : std::string(comm));
        if (o.of == FlameOf::cpu)
            for (const auto& f : t.profile.stacks.at(us)) s += ";" + frame_safe(f);
        for (std::size_t i = from; i < kframes.size(); ++i) s += ";" + frame_safe(kframes[i]) + "_[k]";
        out[s] += count;
    }
    return from_map(out);
}

std::string folded_text(const Folded& f) {
    std::string out;
    for (const auto& s : f) out += s.stack + " " + std::to_string(s.count) + "\n";
    return out;
}

Folded parse_folded(std::string_view text) {
    // Counts a double holds exactly (the SVG's widths and shares are doubles): more is no profile.
    constexpr uint64_t kMaxCount = uint64_t(1) << 53;
    std::map<std::string, uint64_t> m;
    uint64_t total = 0;
    std::size_t pos = 0, lineno = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++lineno;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
        std::size_t sp = line.rfind(' ');
        if (sp == std::string_view::npos || sp == 0) continue;
        uint64_t c = 0;
        for (char ch : line.substr(sp + 1)) {
            if (ch < '0' || ch > '9') {
                c = 0;
                break;
            }
            c = c * 10 + uint64_t(ch - '0');
            if (c > kMaxCount) throw UserError("folded stacks line " + std::to_string(lineno) + ": a count over 2^53");
        }
        total += c;
        if (total > kMaxCount) throw UserError("folded stacks: counts add up to over 2^53 (line " + std::to_string(lineno) + ")");
        m[std::string(line.substr(0, sp))] += c;
    }
    return from_map(m);
}

std::vector<DiffStack> diff_folded(const Folded& a, const Folded& b) {
    std::map<std::string, DiffStack> m;
    for (const auto& s : a) m[s.stack] = {s.stack, s.count, 0};
    for (const auto& s : b) {
        auto& d = m[s.stack];
        d.stack = s.stack;
        d.b = s.count;
    }
    std::vector<DiffStack> out;
    for (auto& [k, d] : m) out.push_back(d);
    return out;
}

std::string diff_text(const std::vector<DiffStack>& d) {
    std::string out;
    for (const auto& s : d) out += s.stack + " " + std::to_string(s.a) + " " + std::to_string(s.b) + "\n";
    return out;
}

std::string flamegraph_svg(const Folded& f, const SvgOptions& o) {
    Tree t;
    for (const auto& s : f) t.add(s.stack, s.count, 0);
    return svg_document(t, o, false, 0);
}

std::string diff_flamegraph_svg(const std::vector<DiffStack>& d, const SvgOptions& o) {
    Tree t;
    double total_a = 0;
    for (const auto& s : d) {
        t.add(s.stack, s.b, double(s.a));
        total_a += double(s.a);
    }
    return svg_document(t, o, true, total_a);
}

}  // namespace ht
