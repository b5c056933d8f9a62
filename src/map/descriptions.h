// descriptions.h — the descriptions a map is drawn for, with their groups, read from
//   FILE.tsv  a header naming the columns, one of them "description"; the group is the value of
//             the --group-by column (e.g. task, source, in_t2l_training_set)
//   FILE.txt  one description per line; a blank line starts a new group, and a line "# name"
//             names the group that follows (unnamed groups are "group 1", "group 2", ...)
// and the deterministic subset that keeps a map readable: K groups, N descriptions per group.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace t2l::map {

struct DescriptionSet {
    std::vector<std::string> texts;
    std::vector<int> group;          // (texts) index into names
    std::vector<std::string> names;  // group names
    std::string grouped_by;          // the TSV column, or "paragraph" for a .txt file
};

// group_by is used for .tsv files only ("" = the 'task' column).
DescriptionSet read_descriptions(const std::string& path, const std::string& group_by);

// Keeps `groups` groups (0 = all), picked by a seeded hash of their names, and at most
// `per_group` descriptions of each (0 = all), picked by a seeded hash of their row number, so
// the choice does not depend on the order of the file's groups and is the same on every run
// with the same seed. Group names come out sorted; descriptions keep their file order.
DescriptionSet select_descriptions(const DescriptionSet& all, size_t groups, size_t per_group, uint64_t seed);

}  // namespace t2l::map
