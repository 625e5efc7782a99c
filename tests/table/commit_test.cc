#include "orchard/table/commit.h"

#include <arrow/buffer.h>

#include <filesystem>

#include "../test_util.h"

namespace orchard::table {
namespace {

namespace fs = std::filesystem;

class CommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto resolved = io::ResolveLocation(dir_.str() + "/out", io::StorageOptions{});
    ASSERT_TRUE(resolved.ok());
    out_ = *resolved;
  }
  Result<OutputCommitter> Begin(ExistingOutput policy, const std::string& fingerprint = "job-a") {
    return OutputCommitter::Begin(out_, policy, fingerprint);
  }
  bool Exists(const std::string& relative) { return fs::exists(dir_.path() / "out" / relative); }

  orchard::testing::TempDir dir_;
  io::Location out_;
};

TEST_F(CommitTest, AKilledWritersTemporaryFileIsNeverPublished) {
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
  ASSERT_OK(io::WriteAll(committer.staging().Child("pca/part-00000.parquet"), "p"));
  // What OpenAtomicOutput leaves when its process is killed before the rename.
  ASSERT_OK(io::WriteAll(committer.staging().Child("pca/part-00001.parquet.inprogress-99-3"), ""));
  ASSERT_OK(io::WriteAll(committer.staging().Child("report/summary.json.inprogress-99-4"), ""));
  ASSERT_OK(committer.Publish({"pca", "report"}));
  EXPECT_TRUE(Exists("pca/part-00000.parquet"));
  EXPECT_FALSE(Exists("pca/part-00001.parquet.inprogress-99-3"));
  EXPECT_FALSE(Exists("report/summary.json.inprogress-99-4"));
  EXPECT_TRUE(Exists("_SUCCESS"));
}

TEST_F(CommitTest, PublishesStagedFoldersThenSuccess) {
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
  ASSERT_OK(io::WriteAll(committer.staging().Child("features/part-00000.parquet"), "f"));
  EXPECT_FALSE(Exists("_SUCCESS"));
  ASSERT_OK(committer.Publish({"features"}));
  EXPECT_TRUE(Exists("features/part-00000.parquet"));
  EXPECT_TRUE(Exists("_SUCCESS"));
  EXPECT_FALSE(Exists("_temporary"));
}

TEST_F(CommitTest, RefusesAnExistingOutputUnlessOverwrite) {
  {
    OutputCommitter committer;
    ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
    ASSERT_OK(io::WriteAll(committer.staging().Child("old/a"), "1"));
    ASSERT_OK(committer.Publish({"old"}));
  }
  auto refused = Begin(ExistingOutput::kRefuse);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--overwrite"), std::string::npos);

  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kOverwrite));
  ASSERT_OK(io::WriteAll(committer.staging().Child("new/b"), "2"));
  EXPECT_TRUE(Exists("old/a"));  // untouched until publish
  ASSERT_OK(committer.Publish({"new"}));
  EXPECT_FALSE(Exists("old/a"));
  EXPECT_TRUE(Exists("new/b"));
  EXPECT_TRUE(Exists("_SUCCESS"));
}

TEST_F(CommitTest, ResumeReusesStagingOfTheSameJobOnly) {
  {
    OutputCommitter crashed;
    ASSERT_OK_AND_ASSIGN(crashed, Begin(ExistingOutput::kRefuse));
    ASSERT_OK(io::WriteAll(crashed.staging().Child("features/part-00000.parquet"), "f"));
    // No publish: the process "dies" here.
  }
  auto refused = Begin(ExistingOutput::kRefuse);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--resume"), std::string::npos);
  auto other_job = Begin(ExistingOutput::kResume, "job-b");
  EXPECT_FALSE(other_job.ok());
  OutputCommitter resumed;
  ASSERT_OK_AND_ASSIGN(resumed, Begin(ExistingOutput::kResume));
  EXPECT_TRUE(resumed.resuming());
  EXPECT_TRUE(Exists("_temporary/features/part-00000.parquet"));
  ASSERT_OK(resumed.Publish({"features"}));
  EXPECT_FALSE(Begin(ExistingOutput::kResume).ok());  // already complete
}

TEST_F(CommitTest, UpdateNeedsAFinishedOutputAndKeepsOtherFolders) {
  EXPECT_FALSE(Begin(ExistingOutput::kUpdate).ok());
  {
    OutputCommitter committer;
    ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
    ASSERT_OK(io::WriteAll(committer.staging().Child("features/x"), "1"));
    ASSERT_OK(committer.Publish({"features"}));
  }
  OutputCommitter update;
  ASSERT_OK_AND_ASSIGN(update, Begin(ExistingOutput::kUpdate, ""));
  ASSERT_OK(io::WriteAll(update.staging().Child("pca/y"), "2"));
  ASSERT_OK(update.Publish({"pca"}));
  EXPECT_TRUE(Exists("features/x"));
  EXPECT_TRUE(Exists("pca/y"));
  EXPECT_TRUE(Exists("_SUCCESS"));
}

// The state a publish killed half-way leaves (see commit.h): the next Begin finishes it.
TEST_F(CommitTest, BeginRollsForwardAPublishCutShort) {
  {
    OutputCommitter committer;
    ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
    ASSERT_OK(io::WriteAll(committer.staging().Child("a/x"), "old"));
    ASSERT_OK(io::WriteAll(committer.staging().Child("b/y"), "old"));
    ASSERT_OK(io::WriteAll(committer.staging().Child("keep/z"), "old"));
    ASSERT_OK(committer.Publish({"a", "b", "keep"}));
  }
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kUpdate));
  const io::Location staging = committer.staging();
  ASSERT_OK(io::WriteAll(staging.Child("a/x"), "new"));
  ASSERT_OK(io::WriteAll(staging.Child("b/y"), "new"));
  // Killed after deleting the old entries and moving the first one.
  ASSERT_OK(io::WriteAll(staging.Child(kPublishJournal), "policy update\na\nb\n"));
  ASSERT_OK(io::WriteAll(staging.Child("_PUBLISHING.moving"), ""));
  ASSERT_OK(io::DeleteTreeIfExists(out_.Child(kSuccessFile)));
  ASSERT_OK(io::DeleteTreeIfExists(out_.Child("a")));
  ASSERT_OK(io::DeleteTreeIfExists(out_.Child("b")));
  ASSERT_OK(io::MoveTree(staging.Child("a"), out_.Child("a")));
  ASSERT_FALSE(Exists("_SUCCESS"));

  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kUpdate));
  EXPECT_TRUE(Exists("_SUCCESS"));
  for (const char* name : {"a/x", "b/y"}) {
    ASSERT_OK_AND_ASSIGN(auto bytes, io::ReadAll(out_.Child(name)));
    EXPECT_EQ(bytes->ToString(), "new") << name;
  }
  ASSERT_OK_AND_ASSIGN(auto kept, io::ReadAll(out_.Child("keep/z")));
  EXPECT_EQ(kept->ToString(), "old");
  EXPECT_FALSE(Exists("_temporary/_PUBLISHING"));
}

TEST_F(CommitTest, BeginRollsForwardAPublishKilledBeforeItsDeletes) {
  {
    OutputCommitter committer;
    ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
    ASSERT_OK(io::WriteAll(committer.staging().Child("a/old-only"), "old"));
    ASSERT_OK(committer.Publish({"a"}));
  }
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kUpdate));
  ASSERT_OK(io::WriteAll(committer.staging().Child("a/x"), "new"));
  ASSERT_OK(io::WriteAll(committer.staging().Child(kPublishJournal), "policy update\na\n"));
  // The old output is still whole and claimed complete; a refusing job finishes the
  // publish, then refuses.
  EXPECT_FALSE(Begin(ExistingOutput::kRefuse).ok());
  EXPECT_TRUE(Exists("_SUCCESS"));
  EXPECT_TRUE(Exists("a/x"));
  EXPECT_FALSE(Exists("a/old-only"));
  EXPECT_FALSE(Exists("_temporary"));
}

TEST_F(CommitTest, RefusesAFileAsOutput) {
  ASSERT_OK(io::WriteAll(out_, "I am a file"));
  EXPECT_FALSE(Begin(ExistingOutput::kOverwrite).ok());
}

}  // namespace
}  // namespace orchard::table
