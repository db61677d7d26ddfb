// SPDX-License-Identifier: MIT
// The paper report's numbers of ours, parsed back from its HTML: each cell's data-src (FILE.json
// and a JSON pointer), data-value, data-scale and the text it shows. The unit test (constructed
// JSON) and the integration test (a real run's) check every one against its JSON the same way.
#pragma once
#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

namespace ht_test {

struct ReportCell {
    std::string whole;  // the matched text, for messages
    std::string file;   // "startup.json"
    std::string ptr;    // "/techniques/0/mean_s"
    std::string value;  // data-value
    double scale = 1;   // data-scale, 1 if absent
    std::string shown;  // the number as printed (a ratio's leading "x" dropped)
};

inline std::vector<ReportCell> report_cells(const std::string& html) {
    static const std::regex cell(
        "data-src=\"([a-z-]+\\.json)#([^\"]+)\" data-value=\"([^\"]+)\"(?: data-scale=\"([^\"]+)\")?>x?([-0-9.]+)");
    std::vector<ReportCell> out;
    for (auto it = std::sregex_iterator(html.begin(), html.end(), cell); it != std::sregex_iterator(); ++it) {
        const auto& m = *it;
        out.push_back({m[0], m[1], m[2], m[3], m[4].matched ? std::stod(m[4]) : 1.0, m[5]});
    }
    return out;
}

// "" if `c` holds its JSON's value and shows it (times its scale) at the printed precision, else
// what is wrong.
inline std::string check_cell(const ReportCell& c, const nlohmann::json& doc) {
    const nlohmann::json* v = nullptr;
    try {
        v = &doc.at(nlohmann::json::json_pointer(c.ptr));
    } catch (const std::exception&) {
        return c.whole + ": no " + c.ptr + " in " + c.file;
    }
    if (!v->is_number()) return c.whole + ": " + c.ptr + " is not a number";
    const double json_value = v->get<double>();
    if (std::stod(c.value) != json_value) return c.whole + ": data-value is not " + v->dump();
    const std::size_t dot = c.shown.find('.');
    const int decimals = dot == std::string::npos ? 0 : int(c.shown.size() - dot - 1);
    if (std::fabs(std::stod(c.shown) - json_value * c.scale) > 0.5 * std::pow(10, -decimals) + 1e-9)
        return c.whole + ": shows " + c.shown + " for " + v->dump();
    return "";
}

}  // namespace ht_test
