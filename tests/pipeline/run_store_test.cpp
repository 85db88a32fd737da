#include "pipeline/run_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "tests/support/test_support.h"

namespace adaflow::testing {
namespace {

TEST(RunStoreTest, WritesAtomicallyAndLeavesNoTempFiles) {
  TempDir dir;
  RunStore store(dir / "run");
  store.WriteAtomic("a/b.txt", "hello");
  store.WriteAtomic("a/b.txt", "world");
  EXPECT_EQ(ReadTextFile(dir / "run/a/b.txt"), "world");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
}

TEST(RunStoreTest, DoneOnlyWithSameKeyAndIntactFiles) {
  TempDir dir;
  {
    RunStore store(dir / "run");
    store.WriteAtomic("out.txt", "12345");
    store.MarkDone("stage", "key1", {"out.txt"}, 1.5);
    EXPECT_TRUE(store.IsDone("stage", "key1"));
    EXPECT_FALSE(store.IsDone("stage", "key2"));
    EXPECT_FALSE(store.IsDone("other", "key1"));
  }
  {
    RunStore reopened(dir / "run");  // the manifest survives the process
    EXPECT_TRUE(reopened.IsDone("stage", "key1"));
    EXPECT_DOUBLE_EQ(reopened.Find("stage")->seconds, 1.5);
  }
  WriteTextFile(dir / "run/out.txt", "12346");  // same size, other bytes
  EXPECT_FALSE(RunStore(dir / "run").IsDone("stage", "key1"));
  std::filesystem::remove(dir / "run/out.txt");
  EXPECT_FALSE(RunStore(dir / "run").IsDone("stage", "key1"));
}

TEST(RunStoreTest, LockRefusesASecondStoreOnTheSameDirectory) {
  TempDir dir;
  {
    RunStore first(dir / "run");
    try {
      RunStore second(dir / "run");
      FAIL() << "second store opened";
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find("in use by another adaflow run"), std::string::npos);
      EXPECT_NE(std::string(error.what()).find("pid " + std::to_string(::getpid())), std::string::npos)
          << error.what();
    }
  }
  EXPECT_NO_THROW(RunStore again(dir / "run"));  // released with the first
}

TEST(RunStoreTest, DamagedManifestIsAClearError) {
  TempDir dir;
  std::filesystem::create_directories(dir / "run");
  WriteTextFile(dir / "run/manifest.json", "{\"format\": \"adaflow-manifest\", \"version\": 1, \"nodes\": {");
  try {
    RunStore store(dir / "run");
    FAIL() << "damaged manifest accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("manifest.json' is damaged"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("--fresh"), std::string::npos);
  }
  // The damaged file is left for the user to inspect.
  EXPECT_TRUE(std::filesystem::exists(dir / "run/manifest.json"));
}

TEST(RunStoreTest, DamagedManifestIsRebuiltFromTheCopyBeforeItsLastWrite) {
  TempDir dir;
  {
    RunStore store(dir / "run");
    store.WriteAtomic("a.txt", "aaa");
    store.MarkDone("a", "ka", {"a.txt"}, 1.0);
    store.WriteAtomic("b.txt", "bbbb");
    store.MarkDone("b", "kb", {"b.txt"}, 2.0);
  }
  const std::string good = ReadTextFile(dir / "run/manifest.json");
  std::string flipped = good;
  flipped[good.find("\"nodes\"")] = '#';  // one byte of the disk gone wrong: no longer JSON
  WriteTextFile(dir / "run/manifest.json", flipped);
  {
    RunStore store(dir / "run");
    EXPECT_NE(store.repair_note().find("rebuilt from manifest.json.prev (1 finished nodes"), std::string::npos)
        << store.repair_note();
    EXPECT_TRUE(store.IsDone("a", "ka"));   // recorded before the last write
    EXPECT_FALSE(store.IsDone("b", "kb"));  // the last write's node runs again
    EXPECT_EQ(ReadTextFile(dir / "run/manifest.json.damaged"), flipped);  // kept for the user to inspect
    store.MarkDone("b", "kb", {"b.txt"}, 2.0);
  }
  EXPECT_TRUE(RunStore(dir / "run").IsDone("b", "kb"));
}

TEST(RunStoreTest, FreshStartsOverWhenNoCopyOfADamagedManifestCanBeRead) {
  TempDir dir;
  std::filesystem::create_directories(dir / "run");
  WriteTextFile(dir / "run/manifest.json", "{\"format\": \"adaflow-manifest\", \"version\": 1, \"nodes\": {");
  WriteTextFile(dir / "run/manifest.json.prev", "\x7f\x45");
  EXPECT_THROW(RunStore(dir / "run"), InputError);  // the error's advice, --fresh, must work:
  {
    RunStore store(dir / "run", RunStore::Open::kFresh);
    EXPECT_TRUE(store.NodeIds().empty());
    EXPECT_NE(store.repair_note().find("starting over"), std::string::npos) << store.repair_note();
    EXPECT_TRUE(std::filesystem::exists(dir / "run/manifest.json.damaged"));
    store.MarkDone("a", "k", {}, 0);
  }
  EXPECT_TRUE(RunStore(dir / "run").IsDone("a", "k"));
}

TEST(RunStoreTest, ForgetDropsSubNodesAndClearDeletesFiles) {
  TempDir dir;
  RunStore store(dir / "run");
  store.WriteAtomic("l1.bin", "1");
  store.MarkDone("adaround/l1", "k", {"l1.bin"}, 0);
  store.MarkDone("adaround", "k", {}, 0);
  store.MarkDone("adaround2", "k", {}, 0);
  store.Forget("adaround");
  EXPECT_EQ(store.NodeIds(), std::vector<std::string>{"adaround2"});
  store.MarkDone("x", "k", {"l1.bin"}, 0);
  store.Clear();
  EXPECT_TRUE(store.NodeIds().empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "run/l1.bin"));
}

}  // namespace
}  // namespace adaflow::testing
