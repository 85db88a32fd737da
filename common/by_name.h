#pragma once
// Lookups in a list of things that each have a `name` (option specs, layers).

#include <string>
#include <vector>

namespace adaflow {

/// The first item named `name`, or nullptr.
template <class T>
const T* FindByName(const std::vector<T>& items, const std::string& name) {
  for (const auto& item : items)
    if (item.name == name) return &item;
  return nullptr;
}

/// The items' names, in order.
template <class T>
std::vector<std::string> NamesOf(const std::vector<T>& items) {
  std::vector<std::string> names;
  names.reserve(items.size());
  for (const auto& item : items) names.push_back(item.name);
  return names;
}

}  // namespace adaflow
