#pragma once
// Suggestions for unknown names ("did you mean ...?"), shared by the config parser and the libraries.

#include <algorithm>
#include <string>
#include <vector>

namespace adaflow {

inline std::size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t col = 0; col <= b.size(); ++col) prev[col] = col;
  for (std::size_t row = 1; row <= a.size(); ++row) {
    cur[0] = row;
    for (std::size_t col = 1; col <= b.size(); ++col) {
      const std::size_t substitute = prev[col - 1] + (a[row - 1] == b[col - 1] ? 0 : 1);
      cur[col] = std::min({prev[col] + 1, cur[col - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// The candidate closest to `word` by edit distance, or "" when none is close enough to suggest.
inline std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::string::npos;
  for (const auto& candidate : candidates) {
    const std::size_t distance = EditDistance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  // A suggestion must be closer than a rewrite: at most a third of the word, and at least one edit.
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  return best_distance <= limit ? best : std::string();
}

/// "; did you mean 'x'?" or "" — appended to unknown-name errors.
inline std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string match = ClosestMatch(word, candidates);
  return match.empty() ? std::string() : "; did you mean '" + match + "'?";
}

/// 'a', 'b', 'c' — for listing the allowed names in an error.
inline std::string QuoteList(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += "'" + name + "'";
  }
  return out;
}

}  // namespace adaflow
