// Every file in tests/configs/invalid/ is a config that `adaflow validate` must reject with exit
// code 2 and a message containing the text of its first line, `# expect-error: <text>` — which
// names the file:line or the key.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

std::vector<std::string> InvalidConfigs() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(SourcePath("tests/configs/invalid")))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::string ExpectedError(const std::string& file) {
  const std::string text = ReadTextFile(file);
  const std::string marker = "# expect-error: ";
  if (text.rfind(marker, 0) != 0) return "";
  return text.substr(marker.size(), text.find('\n') - marker.size());
}

TEST(InvalidConfigsTest, ThereAreEnoughCases) { EXPECT_GE(InvalidConfigs().size(), 15u); }

TEST(InvalidConfigsTest, EachIsRejectedWithExitTwoAndItsMessage) {
  for (const auto& file : InvalidConfigs()) {
    SCOPED_TRACE(file);
    const std::string expected = ExpectedError(file);
    ASSERT_FALSE(expected.empty()) << "first line must be '# expect-error: <text>'";
    for (const char* command : {"validate", "run --dry-run"}) {
      const CommandResult result = RunCli(std::string(command) + " '" + file + "'");
      EXPECT_EQ(result.exit_code, 2) << command << "\n" << result.output;
      EXPECT_NE(result.output.find(expected), std::string::npos)
          << command << "\nexpected: " << expected << "\ngot: " << result.output;
    }
  }
}

}  // namespace
}  // namespace adaflow::testing
