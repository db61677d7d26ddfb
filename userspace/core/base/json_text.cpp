// SPDX-License-Identifier: MIT
#include "core/base/json_text.h"

#include "core/base/text.h"

namespace ht {

nlohmann::json utf8_escaped(const nlohmann::json& j) {
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        return valid_utf8(s) ? j : nlohmann::json(utf8_escape(s));
    }
    if (j.is_array()) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& e : j) out.push_back(utf8_escaped(e));
        return out;
    }
    if (j.is_object()) {
        nlohmann::json out = nlohmann::json::object();
        for (auto it = j.begin(); it != j.end(); ++it)
            out[valid_utf8(it.key()) ? it.key() : utf8_escape(it.key())] = utf8_escaped(it.value());
        return out;
    }
    return j;
}

std::string dump_json(const nlohmann::json& j, int indent) {
    try {
        return j.dump(indent);
    } catch (const nlohmann::json::type_error&) {  // 316: invalid UTF-8; the rare path copies
        return utf8_escaped(j).dump(indent);
    }
}

}  // namespace ht
