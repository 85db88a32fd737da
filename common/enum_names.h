#pragma once
// One name table per enum: the names a config, a report or a log line uses for an enum's values are
// written once, next to the enum, and every reader and writer of a name goes through that table.
//
//   inline const EnumNames<Objective> kObjectiveNames = {{"auto", Objective::kAuto}, ...};
//   NameOf(kObjectiveNames, Objective::kGram)  → "gram"
//   ValueOf(kObjectiveNames, "gram")           → Objective::kGram

#include <optional>
#include <string>
#include <vector>

namespace adaflow {

template <class E>
struct EnumName {
  const char* name;
  E value;
};

template <class E>
using EnumNames = std::vector<EnumName<E>>;

/// The name of `value`, "?" when the table lacks it (a value added to the enum but not to its table).
template <class E>
const char* NameOf(const EnumNames<E>& table, E value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "?";
}

template <class E>
std::optional<E> ValueOf(const EnumNames<E>& table, const std::string& name) {
  for (const auto& entry : table)
    if (name == entry.name) return entry.value;
  return std::nullopt;
}

/// The entries of `table` for `values` only, in the table's order (an option that allows some of them).
template <class E>
EnumNames<E> Subset(const EnumNames<E>& table, const std::vector<E>& values) {
  EnumNames<E> subset;
  for (const auto& entry : table)
    for (E value : values)
      if (entry.value == value) subset.push_back(entry);
  return subset;
}

}  // namespace adaflow
