// The corrupt-input corpus: every case of tests/corrupt/cases.txt damages one input (the model, a data
// file, an encodings file, a file of a finished run) and runs the small export pipeline on it. A damaged
// input of the user's is a clear error with exit 2 that names the file; a damaged file of a finished
// run is found by its hash and rebuilt, and the run ends byte-identical to an undamaged one. Either way
// nothing finished is lost: the case's earlier results stay as they were.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

namespace fs = std::filesystem;

const std::string kConfig = "tests/configs/export_small.yaml";
const std::string kSets = " --set stages.adaround.num_iterations=20 --set data.evaluation.num_samples=500";
const std::string kRun = "run " + kConfig + kSets;

struct Case {
  std::string name;
  std::string config = kConfig;   ///< the pipeline, export_small.yaml unless the case names another
  std::vector<std::string> make;  ///< how to damage, one operation per line
  std::string args;               ///< extra `adaflow run` arguments
  std::string expect_error;       ///< exit 2 with this text, or
  bool expect_rebuilt = false;    ///< exit 0 with the reference's results, or
  bool expect_ok = false;         ///< exit 0 (an unusual input that is not an error)
  std::vector<std::string> expect_log;  ///< texts the output must hold too (what was recomputed)
};

std::vector<Case> ReadCases() {
  std::vector<Case> cases;
  std::istringstream lines(ReadTextFile(SourcePath("tests/corrupt/cases.txt")));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::string word = line.substr(0, line.find(' '));
    const std::string rest = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
    if (word == "case") {
      cases.push_back(Case());
      cases.back().name = rest;
    } else if (cases.empty()) {
      ADD_FAILURE() << "cases.txt: '" << line << "' before the first case";
    } else if (word == "config") {
      cases.back().config = rest;
    } else if (word == "make") {
      cases.back().make.push_back(rest);
    } else if (word == "args") {
      cases.back().args += " " + rest;
    } else if (word == "expect-error") {
      cases.back().expect_error = rest;
    } else if (word == "expect-rebuilt") {
      cases.back().expect_rebuilt = true;
    } else if (word == "expect-ok") {
      cases.back().expect_ok = true;
    } else if (word == "expect-log") {
      cases.back().expect_log.push_back(rest);
    } else {
      ADD_FAILURE() << "cases.txt: unknown line '" << line << "'";
    }
  }
  return cases;
}

std::string Substitute(std::string text, const std::string& dir) {
  for (std::size_t at; (at = text.find("{case}")) != std::string::npos;) text.replace(at, 6, dir);
  return text;
}

std::string ReadBytes(const std::string& path) { return ReadTextFile(path); }

void WriteBytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

/// One operation of a case: copy SOURCE DEST, truncate FILE FRACTION, flip FILE FRACTION, write FILE
/// TEXT (\n for newlines), idx FILE N H W, idx-labels FILE N, delete FILE, finished (a copy of the
/// reference run as {case}/run). Paths are in the case's directory.
void Make(const std::string& operation, const std::string& dir, const std::string& reference) {
  std::istringstream words(Substitute(operation, dir));
  std::string op, a, b;
  words >> op >> a;
  std::getline(words, b);
  if (!b.empty() && b[0] == ' ') b.erase(0, 1);
  const std::string file = dir + "/" + a;
  if (op == "finished") {
    fs::copy(reference, dir + "/run", fs::copy_options::recursive);
  } else if (op == "copy") {
    fs::create_directories(fs::path(dir + "/" + b).parent_path());
    fs::copy_file(a[0] == '/' ? a : SourcePath(a), dir + "/" + b, fs::copy_options::overwrite_existing);
  } else if (op == "truncate") {
    const std::string bytes = ReadBytes(file);
    WriteBytes(file, bytes.substr(0, static_cast<std::size_t>(std::stod(b) * static_cast<double>(bytes.size()))));
  } else if (op == "flip") {
    std::string bytes = ReadBytes(file);
    bytes[static_cast<std::size_t>(std::stod(b) * static_cast<double>(bytes.size() - 1))] ^= '\xff';
    WriteBytes(file, bytes);
  } else if (op == "write") {
    for (std::size_t at; (at = b.find("\\n")) != std::string::npos;) b.replace(at, 2, "\n");
    WriteBytes(file, Substitute(b, dir));
  } else if (op == "idx") {  // idx FILE N H W: N zero images of H×W, plain IDX
    std::istringstream sizes(b);
    std::uint32_t n = 0, h = 0, w = 0;
    sizes >> n >> h >> w;
    std::string bytes = {0, 0, 8, 3};
    for (const std::uint32_t v : {n, h, w})
      for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((v >> shift) & 0xff));
    bytes.append(static_cast<std::size_t>(n) * h * w, '\0');
    WriteBytes(file, bytes);
  } else if (op == "idx-labels") {  // idx-labels FILE N: N zero labels, plain IDX
    const std::uint32_t n = static_cast<std::uint32_t>(std::stoul(b));
    std::string bytes = {0, 0, 8, 1};
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((n >> shift) & 0xff));
    bytes.append(n, '\0');
    WriteBytes(file, bytes);
  } else if (op == "delete") {
    fs::remove_all(file);
  } else {
    ADD_FAILURE() << "unknown operation '" << operation << "'";
  }
}

/// A run's files and their bytes: with `results_only`, what it computed (encodings, rounded weights, the
/// exported model, the layer list), which is byte-identical from run to run; otherwise every file.
std::map<std::string, std::string> RunFiles(const std::string& run_dir, bool results_only) {
  std::map<std::string, std::string> files;
  if (!fs::exists(run_dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(run_dir)) {
    const std::string name = fs::relative(entry.path(), run_dir).string();
    if (!entry.is_regular_file() || name == ".lock") continue;
    const std::string extension = entry.path().extension().string();
    if (results_only && extension != ".encodings" && extension != ".weight" && extension != ".pt" &&
        name != "activation_encodings.json" && name != "layers.txt")
      continue;
    files[name] = ReadBytes(entry.path());
  }
  return files;
}

/// The names of the files that differ between two sets (missing on either side included).
std::string Differences(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  std::string names;
  for (const auto& [name, bytes] : a)
    if (!b.count(name) || b.at(name) != bytes) names += " " + name;
  for (const auto& [name, bytes] : b)
    if (!a.count(name)) names += " " + name;
  return names;
}

class CorruptInputsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reference_ = new TempDir();
    reference_run_ = new CommandResult(RunCli(kRun + " --run-dir " + (*reference_ / "run")));
  }
  static void TearDownTestSuite() {
    delete reference_run_;
    delete reference_;
  }
  static TempDir* reference_;
  static CommandResult* reference_run_;
};

TempDir* CorruptInputsTest::reference_ = nullptr;
CommandResult* CorruptInputsTest::reference_run_ = nullptr;

TEST_F(CorruptInputsTest, EveryCaseIsAClearErrorOrRebuiltAndNothingFinishedIsLost) {
  ASSERT_EQ(reference_run_->exit_code, 0) << reference_run_->output;
  const std::string reference = *reference_ / "run";
  const auto expected = RunFiles(reference, true);
  const std::vector<Case> cases = ReadCases();
  EXPECT_GE(cases.size(), 40u);
  int errors = 0, rebuilt = 0, accepted = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE("case " + c.name);
    TempDir dir;
    for (const auto& operation : c.make) Make(operation, dir.path(), reference);
    const std::string run_dir = dir / "run";
    const auto before = RunFiles(run_dir, false);
    const CommandResult result =
        RunCli("run " + c.config + kSets + " --run-dir " + run_dir + Substitute(c.args, dir.path()));
    for (const auto& text : c.expect_log)
      EXPECT_NE(result.output.find(text), std::string::npos) << "expected '" << text << "' in\n" << result.output;
    if (c.expect_ok) {
      EXPECT_EQ(result.exit_code, 0) << result.output;
      ++accepted;
      continue;
    }
    if (c.expect_rebuilt) {
      EXPECT_EQ(result.exit_code, 0) << result.output;
      EXPECT_EQ(Differences(RunFiles(run_dir, true), expected), "") << "the rebuilt run differs from the undamaged one";
      ++rebuilt;
      continue;
    }
    const std::string error = Substitute(c.expect_error, dir.path());
    ASSERT_FALSE(error.empty()) << "no expect-error or expect-rebuilt";
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_NE(result.output.find(error), std::string::npos) << "expected '" << error << "' in\n" << result.output;
    EXPECT_EQ(result.output.find("internal error"), std::string::npos) << result.output;
    const std::size_t at = result.output.rfind("adaflow: error: ");
    if (at != std::string::npos)
      std::printf("%-50s %s", c.name.c_str(), result.output.substr(at + 16, result.output.find('\n', at) - at - 15).c_str());
    // Nothing finished is lost: every file of the run before is still there, unchanged (but for the
    // log, the report, the resolved config and the manifest, which describe the latest attempt).
    const auto after = RunFiles(run_dir, false);
    std::string lost;
    for (const auto& [name, bytes] : before) {
      if (name == "log.txt" || name.rfind("report.", 0) == 0 || name == "config.resolved.yaml" ||
          name == "layer_mse.svg" || name.rfind("manifest.json", 0) == 0)
        continue;
      if (!after.count(name) || after.at(name) != bytes) lost += " " + name;
    }
    EXPECT_EQ(lost, "") << "lost or changed";
    ++errors;
  }
  std::printf("%zu corrupt-input cases: %d clear errors with exit 2, %d rebuilt identical, %d accepted\n",
              cases.size(), errors, rebuilt, accepted);
}

}  // namespace
}  // namespace adaflow::testing
