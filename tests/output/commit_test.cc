#include "orchard/output/commit.h"

#include <arrow/buffer.h>

#include <filesystem>

#include "../test_util.h"

namespace orchard::output {
namespace {

namespace fs = std::filesystem;

#define EXPECT_STATUS_OK(expr) EXPECT_TRUE((expr).ok())

class CommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto resolved = io::ResolveLocation(dir_.str() + "/out", io::StorageOptions{});
    ASSERT_TRUE(resolved.ok());
    out_ = *resolved;
  }
  Result<OutputCommitter> Begin(ExistingOutput policy, const std::string& fingerprint = "job-a") {
    return OutputCommitter::Begin(out_, policy, fingerprint, nullptr);
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
    ASSERT_OK(io::WriteAll(committer.staging().Child("features/a"), "1"));
    ASSERT_OK(committer.Publish({"features"}));
  }
  auto refused = Begin(ExistingOutput::kRefuse);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--overwrite"), std::string::npos);

  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kOverwrite));
  ASSERT_OK(io::WriteAll(committer.staging().Child("pca/b"), "2"));
  EXPECT_TRUE(Exists("features/a"));  // untouched until publish
  ASSERT_OK(committer.Publish({"pca"}));
  EXPECT_FALSE(Exists("features/a"));
  EXPECT_TRUE(Exists("pca/b"));
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
    ASSERT_OK(io::WriteAll(committer.staging().Child("features/x"), "old"));
    ASSERT_OK(io::WriteAll(committer.staging().Child("pca/y"), "old"));
    ASSERT_OK(io::WriteAll(committer.staging().Child("report/z"), "old"));
    ASSERT_OK(committer.Publish({"features", "pca", "report"}));
  }
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kUpdate));
  const io::Location staging = committer.staging();
  ASSERT_OK(io::WriteAll(staging.Child("features/x"), "new"));
  ASSERT_OK(io::WriteAll(staging.Child("pca/y"), "new"));
  // Killed after deleting the old entries and moving the first one.
  ASSERT_OK(io::WriteAll(staging.Child(kPublishJournal), "policy update\nfeatures\npca\n"));
  ASSERT_OK(io::WriteAll(staging.Child("_PUBLISHING.moving"), ""));
  ASSERT_OK(io::DeleteTreeIfExists(out_.Child(kSuccessFile)));
  ASSERT_OK(io::DeleteTreeIfExists(out_.Child("features")));
  ASSERT_OK(io::DeleteTreeIfExists(out_.Child("pca")));
  ASSERT_OK(io::MoveTree(staging.Child("features"), out_.Child("features")));
  ASSERT_FALSE(Exists("_SUCCESS"));

  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kUpdate));
  EXPECT_TRUE(Exists("_SUCCESS"));
  for (const char* name : {"features/x", "pca/y"}) {
    ASSERT_OK_AND_ASSIGN(auto bytes, io::ReadAll(out_.Child(name)));
    EXPECT_EQ(bytes->ToString(), "new") << name;
  }
  ASSERT_OK_AND_ASSIGN(auto kept, io::ReadAll(out_.Child("report/z")));
  EXPECT_EQ(kept->ToString(), "old");
  EXPECT_FALSE(Exists("_temporary/_PUBLISHING"));
}

TEST_F(CommitTest, BeginRollsForwardAPublishKilledBeforeItsDeletes) {
  {
    OutputCommitter committer;
    ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
    ASSERT_OK(io::WriteAll(committer.staging().Child("features/old-only"), "old"));
    ASSERT_OK(committer.Publish({"features"}));
  }
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kUpdate));
  ASSERT_OK(io::WriteAll(committer.staging().Child("features/x"), "new"));
  ASSERT_OK(io::WriteAll(committer.staging().Child(kPublishJournal), "policy update\nfeatures\n"));
  // The old output is still whole and claimed complete; a refusing job finishes the
  // publish, then refuses.
  EXPECT_FALSE(Begin(ExistingOutput::kRefuse).ok());
  EXPECT_TRUE(Exists("_SUCCESS"));
  EXPECT_TRUE(Exists("features/x"));
  EXPECT_FALSE(Exists("features/old-only"));
  EXPECT_FALSE(Exists("_temporary"));
}

TEST_F(CommitTest, RefusesAFileAsOutput) {
  ASSERT_OK(io::WriteAll(out_, "I am a file"));
  EXPECT_FALSE(Begin(ExistingOutput::kOverwrite).ok());
}

// `orchard run -i anc/data -o anc --overwrite` once emptied anc/: a folder holding anything
// orchard does not write is never replaced.
TEST_F(CommitTest, OverwriteRefusesAFolderOrchardDidNotWrite) {
  ASSERT_OK(io::WriteAll(out_.Child("data/A/1.jpg"), "image"));
  ASSERT_OK(io::WriteAll(out_.Child("other/notes.txt"), "x"));
  ASSERT_OK(io::WriteAll(out_.Child("features/part-00000.parquet"), "f"));
  auto refused = Begin(ExistingOutput::kOverwrite);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsUsageError(refused.status()));
  EXPECT_NE(refused.status().message().find("'data'"), std::string::npos);
  EXPECT_NE(refused.status().message().find("'other'"), std::string::npos);
  EXPECT_TRUE(Exists("data/A/1.jpg"));
  EXPECT_TRUE(Exists("other/notes.txt"));
  EXPECT_TRUE(Exists("features/part-00000.parquet"));
}

TEST_F(CommitTest, OverwriteReplacesOnlyTheContractEntries) {
  {
    OutputCommitter committer;
    ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
    ASSERT_OK(io::WriteAll(committer.staging().Child("features/old"), "1"));
    ASSERT_OK(io::WriteAll(committer.staging().Child("pca/old"), "1"));
    ASSERT_OK(committer.Publish({"features", "pca"}));
  }
  ASSERT_OK(io::WriteAll(out_.Child(".DS_Store"), "finder"));  // hidden names are tolerated
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kOverwrite));
  ASSERT_OK(io::WriteAll(committer.staging().Child("features/new"), "2"));
  ASSERT_OK(committer.Publish({"features"}));
  EXPECT_TRUE(Exists("features/new"));
  EXPECT_FALSE(Exists("features/old"));
  EXPECT_FALSE(Exists("pca/old"));
  EXPECT_TRUE(Exists(".DS_Store"));
}

// A journal is data from the output folder, which may come from anyone.
TEST_F(CommitTest, AJournalNamingAnythingElseIsRefusedNotFollowed) {
  ASSERT_OK(io::WriteAll(out_.Child("features/x"), "1"));
  ASSERT_OK(io::WriteAll(out_.Child(kSuccessFile), ""));
  const io::Location victim = out_.Child("../victim");
  ASSERT_OK(io::WriteAll(out_.Child("../victim/precious.txt"), "mine"));
  for (const char* journal :
       {"policy update\n../victim\n", "policy overwrite\n/etc\n",
        "policy update\nfeatures/../../victim\n", "policy update\n_SUCCESS\n"}) {
    ASSERT_OK(io::WriteAll(out_.Child("_temporary").Child(kPublishJournal), journal));
    auto refused = Begin(ExistingOutput::kUpdate);
    ASSERT_FALSE(refused.ok()) << journal;
    EXPECT_NE(refused.status().message().find("not an entry of an orchard output"),
              std::string::npos);
    EXPECT_TRUE(fs::exists(dir_.path() / "victim" / "precious.txt")) << journal;
    EXPECT_TRUE(Exists("features/x"));
  }
}

TEST_F(CommitTest, AnOverwriteJournalDeletesOnlyContractEntries) {
  ASSERT_OK(io::WriteAll(out_.Child("features/old"), "1"));
  ASSERT_OK(io::WriteAll(out_.Child("notes/mine.txt"), "mine"));
  ASSERT_OK(io::WriteAll(out_.Child("_temporary/features/new"), "2"));
  ASSERT_OK(io::WriteAll(out_.Child("_temporary").Child(kPublishJournal),
                         "policy overwrite\nfeatures\n"));
  // Recovery rolls the publish forward, then the refuse policy refuses the full folder.
  EXPECT_FALSE(Begin(ExistingOutput::kRefuse).ok());
  EXPECT_TRUE(Exists("features/new"));
  EXPECT_FALSE(Exists("features/old"));
  EXPECT_TRUE(Exists("notes/mine.txt"));
}

TEST_F(CommitTest, ALinkInTheOutputIsRemovedNeverFollowed) {
  ASSERT_OK(io::WriteAll(out_.Child("../photos/cat.jpg"), "cat"));
  fs::create_directories(dir_.path() / "out");
  fs::create_directory_symlink(dir_.path() / "photos", dir_.path() / "out" / "features");
  ASSERT_OK(io::WriteAll(out_.Child(kSuccessFile), ""));
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kOverwrite));
  ASSERT_OK(io::WriteAll(committer.staging().Child("features/part-00000.parquet"), "f"));
  ASSERT_OK(committer.Publish({"features"}));
  EXPECT_TRUE(fs::exists(dir_.path() / "photos" / "cat.jpg"));
  EXPECT_FALSE(fs::is_symlink(dir_.path() / "out" / "features"));
  EXPECT_TRUE(Exists("features/part-00000.parquet"));
}

TEST_F(CommitTest, PublishRefusesEntriesOutsideTheContract) {
  OutputCommitter committer;
  ASSERT_OK_AND_ASSIGN(committer, Begin(ExistingOutput::kRefuse));
  EXPECT_FALSE(committer.Publish({"../elsewhere"}).ok());
  EXPECT_FALSE(committer.Publish({"notes"}).ok());
}

class PlacementTest : public ::testing::Test {
 protected:
  io::Location At(const std::string& relative) {
    auto resolved = io::ResolveLocation(dir_.str() + "/" + relative, io::StorageOptions{});
    EXPECT_TRUE(resolved.ok());
    return *resolved;
  }
  static io::Location S3(const std::string& path) {
    io::Location location;
    location.path = path;
    location.display = "s3://" + path;
    location.is_object_store = true;
    return location;
  }
  orchard::testing::TempDir dir_;
};

TEST_F(PlacementTest, RefusesAnOutputEqualToInsideOrAroundTheInput) {
  fs::create_directories(dir_.path() / "anc" / "data");
  for (const auto& [input, output] :
       std::vector<std::pair<std::string, std::string>>{{"anc/data", "anc/data"},
                                                        {"anc/data", "anc/data/out"},
                                                        {"anc/data", "anc"},
                                                        {"anc/data", "anc/./data/"},
                                                        {"anc/data", "anc/data/../data"}}) {
    const Status status = CheckOutputPlacement(At(input), At(output));
    EXPECT_FALSE(status.ok()) << input << " " << output;
    EXPECT_TRUE(IsUsageError(status));
    EXPECT_NE(status.message().find(At(output).display), std::string::npos) << status.message();
  }
  EXPECT_STATUS_OK(CheckOutputPlacement(At("anc/data"), At("anc/data2")));
  EXPECT_STATUS_OK(CheckOutputPlacement(At("anc/data"), At("anc/out")));
  EXPECT_FALSE(CheckOutputPlacement(At("anc/data"), *io::ResolveLocation("/", {})).ok());
}

TEST_F(PlacementTest, SeesThroughLinks) {
  fs::create_directories(dir_.path() / "in" / "A");
  fs::create_directory_symlink(dir_.path() / "in", dir_.path() / "alias");
  EXPECT_FALSE(CheckOutputPlacement(At("in"), At("alias")).ok());
  EXPECT_FALSE(CheckOutputPlacement(At("in"), At("alias/out")).ok());
  EXPECT_FALSE(CheckOutputPlacement(At("alias/A"), At("in")).ok());
}

TEST_F(PlacementTest, ComparesObjectStorePrefixes) {
  EXPECT_FALSE(CheckOutputPlacement(S3("bucket/in"), S3("bucket/in")).ok());
  EXPECT_FALSE(CheckOutputPlacement(S3("bucket/in"), S3("bucket/in/out")).ok());
  EXPECT_FALSE(CheckOutputPlacement(S3("bucket/in"), S3("bucket")).ok());
  EXPECT_STATUS_OK(CheckOutputPlacement(S3("bucket/in"), S3("bucket/input2")));
  EXPECT_STATUS_OK(CheckOutputPlacement(S3("bucket/in"), S3("other/in")));
  EXPECT_STATUS_OK(CheckOutputPlacement(S3("bucket/in"), At("bucket/in")));  // local vs S3
}

}  // namespace
}  // namespace orchard::output
