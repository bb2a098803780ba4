// Failure handling of `slimfit train` as a user meets it (issue 12): signals, output paths,
// failed writes, a second run on one checkpoint, and bad values that used to pass silently.
// Each case runs the binary from a small bash script, so signals reach a real process.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace {

namespace fs = std::filesystem;

const std::string kTiny = "model=bert-tiny data=synthetic:2000 batch=8 seq_len=32 max_eval=16";

// A fresh directory per test, removed afterwards.
class CliFailure : public ::testing::Test {
 protected:
  void SetUp() override {
    // The process id too, as ExportTest does: two suites on one machine must not share it.
    dir_ = fs::temp_directory_path() /
           ("slimfit_failures_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Runs `body` with bash in the test's directory, with $B the slimfit binary and $T the tiny
  // run's keys; returns bash's exit status and the combined output.
  std::pair<int, std::string> run(const std::string& body) const {
    const std::string script = path("run.sh");
    {
      std::ofstream out(script);
      out << "set -u\ncd '" << dir_.string() << "'\nB='" << SLIMFIT_BINARY << "'\nT='" << kTiny
          << "'\n"
          << body << "\n";
    }
    FILE* pipe = popen(("bash " + script + " 2>&1").c_str(), "r");
    std::string text;
    std::array<char, 4096> buf{};
    while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) text.append(buf.data(), n);
    const int status = pclose(pipe);
    return {WEXITSTATUS(status), text};
  }

  double final_train_loss(const std::string& summary) const {
    std::ifstream in(path(summary));
    return nlohmann::json::parse(in)["final_train_loss"].get<double>();
  }

  fs::path dir_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Waits (up to a minute) until file $1 contains $2.
const std::string kWaitFor =
    "wait_for() { for _ in $(seq 600); do grep -q \"$2\" \"$1\" 2>/dev/null && return 0; "
    "sleep 0.1; done; echo \"timed out waiting for '$2' in $1\"; return 1; }\n";

TEST_F(CliFailure, SigtermStopsAfterTheStepWithACheckpointAndResumeRepeatsTheRun) {
  auto [rc, out] = run(kWaitFor +
                       "$B train $T steps=40 log_every=1 checkpoint=ck.h5 > a.log 2>&1 &\n"
                       "pid=$!\nwait_for a.log 'step 2/40' || exit 1\nkill -TERM $pid\n"
                       "wait $pid; echo \"exit $?\"; cat a.log");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "exit 143")) << out;  // 128 + SIGTERM
  EXPECT_TRUE(contains(out, "stopped by SIGTERM after step")) << out;
  EXPECT_TRUE(contains(out, "continue with resume=ck.h5")) << out;
  ASSERT_TRUE(fs::exists(path("ck.h5"))) << out;
  std::tie(rc, out) =
      run("$B train $T steps=40 resume=ck.h5 checkpoint=ck.h5 --summary resumed.json || exit 1\n"
          "$B train $T steps=40 --summary straight.json");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(final_train_loss("resumed.json"), final_train_loss("straight.json"));
}

TEST_F(CliFailure, ASecondSignalEndsTheProcessAtOnce) {
  // The injected hang keeps the first signal from ever reaching a step boundary.
  auto [rc, out] = run(kWaitFor +
                       "SLIMFIT_FAULT=rank=0,step=1,kind=hang $B train $T steps=40 "
                       "checkpoint=ck.h5 > a.log 2>&1 &\n"
                       "pid=$!\nwait_for a.log 'injecting fault' || exit 1\n"
                       "kill -TERM $pid; sleep 0.5; kill -TERM $pid\n"
                       "wait $pid; echo \"exit $?\"; cat a.log; ls");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "exit 143")) << out;
  EXPECT_FALSE(contains(out, "stopped by")) << out;  // no orderly stop: killed by the signal
  EXPECT_FALSE(fs::exists(path("ck.h5"))) << out;
}

TEST_F(CliFailure, ResumeAutoStartsFreshThenResumes) {
  auto [rc, out] = run("$B train $T steps=6 stop_after=3 resume=auto checkpoint=ck.h5");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "ck.h5 does not exist yet; starting fresh")) << out;
  std::tie(rc, out) = run("$B train $T steps=6 resume=auto checkpoint=ck.h5");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "resumed from ck.h5 at step 3")) << out;
  std::tie(rc, out) = run("$B train $T steps=6 resume=auto");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(contains(out, "resume=auto resumes from checkpoint=PATH")) << out;
}

TEST_F(CliFailure, OutputPathsAreCheckedBeforeTheFirstStep) {
  const std::pair<std::string, std::string> cases[] = {
      {"checkpoint=nodir/ck.h5", "the directory nodir does not exist"},
      {"metrics=nodir/m.h5", "the directory nodir does not exist"},
      {"checkpoint=fifo", "checkpoint=fifo exists and is not a regular file"},
      {"--summary /dev/full", "--summary /dev/full exists and is not a regular file"},
      {"--summary nodir/s.json", "the directory nodir does not exist"},
  };
  for (const auto& [arg, message] : cases) {
    auto [rc, out] = run("mkfifo fifo 2>/dev/null; $B train $T steps=2 " + arg);
    EXPECT_EQ(rc, 1) << arg << "\n" << out;
    EXPECT_TRUE(contains(out, message)) << arg << "\n" << out;
    EXPECT_FALSE(contains(out, "step 1/")) << arg << ": a step ran before the check\n" << out;
  }
  auto [rc, out] = run("$B prepare --input x.csv --output nodir/x.h5 --vocab v.txt");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(contains(out, "the directory nodir does not exist")) << out;
}

TEST_F(CliFailure, AFailedWriteExitsNonZeroAndKeepsTheLastGoodFile) {
  // A file-size limit makes writes fail as a full disk does (EFBIG instead of ENOSPC).
  auto [rc, out] =
      run("$B train $T steps=1 checkpoint=ck.h5 --summary s.json || exit 1\n"
          "cp ck.h5 good.h5; cp s.json good.json\n"
          "(trap '' XFSZ; ulimit -f 100; exec $B train $T steps=2 checkpoint=ck.h5)\n"
          "echo \"checkpoint exit $?\"\n"
          "(trap '' XFSZ; ulimit -f 0; exec $B train $T steps=1 --summary s.json) "
          "2>&1 | cat\n"
          "echo \"summary exit ${PIPESTATUS[0]}\"\n"
          "cmp ck.h5 good.h5 && cmp s.json good.json && echo intact");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "checkpoint exit 1")) << out;  // not 139: no crash at exit
  EXPECT_TRUE(contains(out, "summary exit 1")) << out;
  EXPECT_TRUE(contains(out, "writing s.json failed: File too large")) << out;
  EXPECT_TRUE(contains(out, "intact")) << out;
  EXPECT_FALSE(fs::exists(path("ck.h5.tmp")) || fs::exists(path("s.json.tmp"))) << out;
}

TEST_F(CliFailure, TwoRunsCannotShareACheckpoint) {
  auto [rc, out] = run(kWaitFor +
                       "$B train $T steps=400 log_every=1 checkpoint=ck.h5 > a.log 2>&1 &\n"
                       "pid=$!\nwait_for a.log 'step 1/400' || exit 1\n"
                       "$B train $T steps=2 checkpoint=ck.h5; echo \"second exit $?\"\n"
                       "kill -KILL $pid; wait $pid; true");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "second exit 1")) << out;
  EXPECT_TRUE(contains(out, "checkpoint=ck.h5 is in use by another run")) << out;
}

TEST_F(CliFailure, BadValuesThatUsedToPassAreErrors) {
  const std::pair<std::string, std::string> cases[] = {
      {"$B train --config .", "cannot open config file .: it is a directory"},
      {"$B train $T epochs=inf", "epochs=inf must be a finite number"},
      {"$B train $T steps=-5", "steps must be >= 0, got -5"},
      {"$B train $T steps=2 checkpoint_every=-5", "checkpoint_every must be >= 0"},
      {"$B train $T steps=2 collective_timeout=-1", "collective_timeout must be >= 0"},
      {"SLIMFIT_FAULT=rank=x,step=1,kind=throw $B train $T steps=2",
       "SLIMFIT_FAULT: rank=x is not a non-negative integer"},
      {"SLIMFIT_FAULT=kind=throw $B train $T steps=2", "must set rank=R,step=S,kind=K"},
  };
  for (const auto& [command, message] : cases) {
    auto [rc, out] = run(command);
    EXPECT_EQ(rc, 1) << command << "\n" << out;
    EXPECT_TRUE(contains(out, message)) << command << "\n" << out;
  }
}

TEST_F(CliFailure, TheNonFiniteLossMessageNamesTheFileThatHoldsTheStep) {
  auto [rc, out] =
      run("$B train $T steps=6 stop_after=2 checkpoint=a.h5 || exit 1\n"
          "SLIMFIT_FAULT=rank=0,step=3,kind=nan $B train $T steps=6 resume=a.h5 "
          "checkpoint=b.h5");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(contains(out, "The last checkpoint (a.h5, step 2) is intact")) << out;
  std::tie(rc, out) = run("SLIMFIT_FAULT=rank=0,step=1,kind=nan $B train $T steps=6");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(contains(out, "No checkpoint was written")) << out;
}

}  // namespace
