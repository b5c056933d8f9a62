// descriptions.cpp — see descriptions.h.
#include "map/descriptions.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>

#include "common.h"
#include "map/rng.h"

namespace t2l::map {

namespace {
std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> cols;
    size_t start = 0;
    for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) cols.push_back(line.substr(start, tab - start));
    cols.push_back(line.substr(start));
    return cols;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r") == std::string::npos; }

int group_index(DescriptionSet& d, std::map<std::string, int>& index, const std::string& name) {
    auto it = index.find(name);
    if (it != index.end()) return it->second;
    d.names.push_back(name);
    return index[name] = (int)d.names.size() - 1;
}
}  // namespace

DescriptionSet read_descriptions(const std::string& path, const std::string& group_by) {
    std::ifstream in(path);
    if (!in) fail(path, ": cannot open");
    DescriptionSet d;
    std::map<std::string, int> index;
    std::string line;
    const bool tsv = path.size() > 4 && path.compare(path.size() - 4, 4, ".tsv") == 0;
    if (tsv) {
        d.grouped_by = group_by.empty() ? "task" : group_by;
        if (!std::getline(in, line)) fail(path, ": empty file (expected a header line)");
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::vector<std::string> header = split_tabs(line);
        auto column = [&](const std::string& name) -> size_t {
            const size_t c = (size_t)(std::find(header.begin(), header.end(), name) - header.begin());
            if (c == header.size()) {
                std::string names;
                for (const auto& h : header) names += (names.empty() ? "" : ", ") + h;
                fail(path, ": no '", name, "' column (the header has: ", names, ")");
            }
            return c;
        };
        const size_t text_col = column("description"), group_col = column(d.grouped_by);
        for (size_t lineno = 2; std::getline(in, line); lineno++) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (blank(line)) continue;
            const std::vector<std::string> cols = split_tabs(line);
            if (cols.size() != header.size())
                fail(path, ":", lineno, ": ", cols.size(), " tab-separated fields, the header has ", header.size());
            if (blank(cols[text_col])) continue;  // nothing to describe
            d.texts.push_back(cols[text_col]);
            d.group.push_back(group_index(d, index, cols[group_col]));
        }
    } else {
        if (!group_by.empty()) fail(path, ": --group-by needs a .tsv file (a .txt file is grouped by blank lines)");
        d.grouped_by = "paragraph";
        std::string name;
        int unnamed = 0;
        bool in_group = false;
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (blank(line)) {
                in_group = false;
                name.clear();
                continue;
            }
            if (line[0] == '#') {
                name = line.substr(line.find_first_not_of("# \t") == std::string::npos ? line.size() : line.find_first_not_of("# \t"));
                in_group = false;
                continue;
            }
            if (!in_group) {
                if (name.empty()) name = cat("group ", ++unnamed);
                in_group = true;
            }
            d.texts.push_back(line);
            d.group.push_back(group_index(d, index, name));
        }
    }
    if (d.texts.empty()) fail(path, ": no descriptions");
    return d;
}

DescriptionSet select_descriptions(const DescriptionSet& all, size_t groups, size_t per_group, uint64_t seed) {
    const uint64_t salt = mix64(seed ^ 0x67726f7570ull);
    std::vector<int> pick((size_t)all.names.size());
    std::iota(pick.begin(), pick.end(), 0);
    if (groups > 0 && groups < pick.size()) {
        std::sort(pick.begin(), pick.end(), [&](int a, int b) {
            const uint64_t ka = mix64(hash_string(all.names[(size_t)a]) ^ salt), kb = mix64(hash_string(all.names[(size_t)b]) ^ salt);
            return ka != kb ? ka < kb : all.names[(size_t)a] < all.names[(size_t)b];
        });
        pick.resize(groups);
    }
    std::sort(pick.begin(), pick.end(), [&](int a, int b) { return all.names[(size_t)a] < all.names[(size_t)b]; });
    std::vector<int> new_index(all.names.size(), -1);
    DescriptionSet out;
    out.grouped_by = all.grouped_by;
    for (int g : pick) {
        new_index[(size_t)g] = (int)out.names.size();
        out.names.push_back(all.names[(size_t)g]);
    }
    // Rows of each kept group, ranked by a hash of the row number; the first per_group stay.
    std::vector<std::vector<size_t>> rows(all.names.size());
    for (size_t i = 0; i < all.texts.size(); i++)
        if (new_index[(size_t)all.group[i]] >= 0) rows[(size_t)all.group[i]].push_back(i);
    std::vector<char> keep(all.texts.size(), 0);
    for (auto& r : rows) {
        if (per_group > 0 && per_group < r.size()) {
            std::sort(r.begin(), r.end(), [&](size_t a, size_t b) { return mix64(a ^ salt) < mix64(b ^ salt); });
            r.resize(per_group);
        }
        for (size_t i : r) keep[i] = 1;
    }
    for (size_t i = 0; i < all.texts.size(); i++)
        if (keep[i]) {
            out.texts.push_back(all.texts[i]);
            out.group.push_back(new_index[(size_t)all.group[i]]);
        }
    return out;
}

}  // namespace t2l::map
