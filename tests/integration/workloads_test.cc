// Real programs under the default policy, each in a fresh world-writable
// working directory under /tmp: the sandbox must stay usable for the
// toolchains and runtimes people actually run. A program missing from this
// machine is a failure naming the Debian package to install, never a skip.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

constexpr char kPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Program {
  const char* path;
  const char* package;  // Debian's
};

// Fails the test, naming the package, when a program is not installed.
void RequirePrograms(const std::vector<Program>& programs) {
  for (const Program& program : programs) {
    if (access(program.path, X_OK) != 0) {
      ADD_FAILURE() << program.path << " is missing on this machine: apt-get install "
                    << program.package;
    }
  }
}

bool HasLine(const std::string& text, const std::string& wanted) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line == wanted) return true;
  }
  return false;
}

struct Workload {
  const char* name;
  std::vector<Program> programs;
  std::vector<std::pair<const char*, const char*>> files;  // written into the cwd first
  std::vector<std::string> command;
  const char* expected_line;  // one line of stdout, exactly
};

// Test names and failure messages show the case by its name.
void PrintTo(const Workload& value, std::ostream* os) { *os << value.name; }

// `sh -c SCRIPT`
std::vector<std::string> Shell(const char* script) { return {"/bin/sh", "-c", script}; }

const Program kSh = {"/bin/sh", "dash"};
const Program kCoreutils = {"/usr/bin/sort", "coreutils"};
const Program kCc = {"/usr/bin/cc", "gcc"};

const char kHelloC[] =
    "#include <stdio.h>\n"
    "int main(void) { printf(\"hello=%d\\n\", 6 * 7); return 0; }\n";

std::vector<Workload> Workloads() {
  return {
      {"Python3MultiprocessingPool",
       {{"/usr/bin/python3", "python3"}},
       {},
       {"/usr/bin/python3", "-c",
        "import multiprocessing\n"
        "if __name__ == '__main__':\n"
        "    with multiprocessing.Pool(4) as pool:\n"
        "        print('sum=%d' % sum(pool.map(abs, range(-100, 0))))\n"},
       "sum=5050"},
      {"CcBuildsAndRunsHelloWorld",
       {kSh, kCc},
       {{"hello.c", kHelloC}},
       Shell("cc -O1 -o hello hello.c && ./hello"),
       "hello=42"},
      {"CmakeConfiguresAndBuildsACProject",
       {kSh, kCc, {"/usr/bin/cmake", "cmake"}, {"/usr/bin/make", "make"}},
       {{"CMakeLists.txt",
         "cmake_minimum_required(VERSION 3.13)\n"
         "project(tiny C)\n"
         "add_executable(tiny hello.c)\n"},
        {"hello.c", kHelloC}},
       Shell("cmake -S . -B build && cmake --build build && ./build/tiny"),
       "hello=42"},
      {"NodeEvaluatesAScript",
       {{"/usr/bin/node", "nodejs"}},
       {},
       {"/usr/bin/node", "-e", "console.log('node=' + [1, 2, 3].map((x) => x * 2).join(','))"},
       "node=2,4,6"},
      // The single-file source launcher compiles in memory (jdk.compiler).
      {"JavaRunsASingleFileSourceProgram",
       {{"/usr/bin/java", "openjdk-17-jdk-headless"}},
       {{"Hello.java",
         "public class Hello {\n"
         "  public static void main(String[] args) {\n"
         "    System.out.println(\"java=\" + (6 * 7));\n"
         "  }\n"
         "}\n"}},
       {"/usr/bin/java", "Hello.java"},
       "java=42"},
      {"JavacCompilesIntoTheWorkingDirectory",
       {{"/usr/bin/javac", "openjdk-17-jdk-headless"},
        {"/usr/bin/java", "openjdk-17-jdk-headless"}},
       {{"Hello.java",
         "public class Hello {\n"
         "  public static void main(String[] args) {\n"
         "    System.out.println(\"javac=\" + (6 * 7));\n"
         "  }\n"
         "}\n"}},
       Shell("javac Hello.java && java -cp . Hello"),
       "javac=42"},
      {"GitInitAddCommit",
       {kSh, {"/usr/bin/git", "git"}},
       {},
       Shell("git init -q repo && cd repo && echo hello > file && git add file && "
             "git -c user.name=Tenant -c user.email=tenant@example.invalid commit -q -m first && "
             "echo commits=$(git rev-list --count HEAD)"),
       "commits=1"},
      {"ShellPipeline",
       {kSh, {"/usr/bin/seq", "coreutils"}, kCoreutils, {"/usr/bin/head", "coreutils"}},
       {},
       Shell("seq 1 10000 | sort -rn | head -1"),
       "10000"},
  };
}

class WorkloadTest : public ::testing::TestWithParam<Workload> {};

TEST_P(WorkloadTest, RunsUnderTheDefaultPolicy) {
  const Workload& workload = GetParam();
  RequirePrograms(workload.programs);
  if (::testing::Test::HasFailure()) return;
  ScopedTempDir cwd("/tmp", 0777);
  for (const auto& [name, text] : workload.files) {
    std::ofstream(cwd.Child(name)) << text;
    chmod(cwd.Child(name).c_str(), 0644);
  }
  RunSpec spec;
  spec.cwd = cwd.path();
  spec.args = {"run", "--"};
  spec.args.insert(spec.args.end(), workload.command.begin(), workload.command.end());
  spec.before_exec = [] { setenv("PATH", kPath, 1); };
  spec.timeout_seconds = 240;
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 0) << "out:\n" << result.out << "\nerr:\n" << result.err;
  EXPECT_TRUE(HasLine(result.out, workload.expected_line))
      << "no line `" << workload.expected_line << "` in:\n"
      << result.out << "\nerr:\n"
      << result.err;
}

INSTANTIATE_TEST_SUITE_P(Programs, WorkloadTest, ::testing::ValuesIn(Workloads()),
                         [](const ::testing::TestParamInfo<Workload>& info) {
                           return std::string(info.param.name);
                         });

// An interactive shell on a terminal: tether runs under script(1), which
// gives it a pty as stdin, stdout and stderr.
RunResult RunInteractiveShell(const std::string& typed, std::string* out) {
  RunSpec spec;
  ScopedTempDir cwd("/tmp", 0777);
  spec.cwd = cwd.path();
  spec.command = {"/usr/bin/script", "-qec", Binaries().Bin("tether") + " run -- /bin/sh -i",
                  "/dev/null"};
  spec.stdin_text = typed;
  spec.before_exec = [] { setenv("PATH", kPath, 1); };
  spec.timeout_seconds = 60;
  RunResult result = RunTether(spec);
  out->clear();  // the pty's line endings are \r\n
  for (char c : result.out) {
    if (c != '\r') *out += c;
  }
  return result;
}

// The shell sees a terminal on all three fds: `$((6 * 7))` is evaluated
// only by the shell, never by the pty's echo of what was typed.
TEST(WorkloadsTest, InteractiveShellSeesATerminal) {
  RequirePrograms({{"/usr/bin/script", "bsdutils"}, kSh});
  if (::testing::Test::HasFailure()) return;
  std::string out;
  RunResult result = RunInteractiveShell(
      "test -t 0 && test -t 1 && test -t 2 && echo tty=$((6 * 7))\nexit 0\n", &out);
  EXPECT_NE(out.find("tty=42\n"), std::string::npos) << "out:\n" << out << "\nerr:\n" << result.err;
}

// An interactive shell ends as it was told to, without complaining about its
// terminal (dash restores the terminal's foreground process group on exit),
// and script -e passes its status on.
TEST(WorkloadsTest, InteractiveShellExitsWithItsStatus) {
  RequirePrograms({{"/usr/bin/script", "bsdutils"}, kSh});
  if (::testing::Test::HasFailure()) return;
  std::string out;
  RunResult result = RunInteractiveShell("echo alive=$((6 * 7))\nexit 3\n", &out);
  ASSERT_NE(out.find("alive=42\n"), std::string::npos) << "out:\n"
                                                       << out << "\nerr:\n"
                                                       << result.err;
  EXPECT_EQ(out.find("/bin/sh:"), std::string::npos) << "the shell complained:\n" << out;
  EXPECT_EQ(result.exit_code, 3) << "out:\n" << out << "\nerr:\n" << result.err;
}

// Runs `shell` under script(1), a pty, in a fresh working directory, and
// types `line` into the pty only after `delay`: whoever holds the terminal
// then reads it.
RunResult RunUnderScriptTypingLater(const std::string& shell, const std::string& line,
                                    std::chrono::seconds delay) {
  RunSpec spec;
  ScopedTempDir cwd("/tmp", 0777);
  spec.cwd = cwd.path();
  spec.command = {"/usr/bin/script", "-qec", shell, "/dev/null"};
  int typed[2];
  if (pipe(typed) != 0) {
    ADD_FAILURE() << "pipe: " << strerror(errno);
    return {};
  }
  spec.before_exec = [&typed] {
    setenv("PATH", kPath, 1);
    dup2(typed[0], STDIN_FILENO);
    close(typed[1]);
  };
  std::thread typist([&typed, &line, delay] {
    std::this_thread::sleep_for(delay);
    (void)!write(typed[1], line.data(), line.size());
    close(typed[1]);
  });
  spec.timeout_seconds = 30;
  RunResult result = RunTether(spec);
  typist.join();
  close(typed[0]);
  return result;
}

// The workload had the terminal's foreground group; the shell that ran
// tether gets it back, and can read its terminal afterwards.
TEST(WorkloadsTest, CallerGetsItsTerminalBackAfterTheRun) {
  RequirePrograms({{"/usr/bin/script", "bsdutils"}, kSh});
  if (::testing::Test::HasFailure()) return;
  RunResult result = RunUnderScriptTypingLater(
      "/bin/sh -c '" + Binaries().Bin("tether") + " run -- /bin/true; read line; echo got=$line'",
      "hello\n", std::chrono::seconds(2));
  EXPECT_NE(result.out.find("got=hello"), std::string::npos) << "out:\n"
                                                             << result.out << "\nerr:\n"
                                                             << result.err;
}

// A tether run started in the background of an interactive shell must not
// take the terminal: what the user types next goes to the shell, not to the
// sandboxed workload.
TEST(WorkloadsTest, BackgroundRunDoesNotTakeTheTerminal) {
  RequirePrograms({{"/usr/bin/script", "bsdutils"}, kSh});
  if (::testing::Test::HasFailure()) return;
  // sh -m: job control, so the background job has a process group of its own.
  std::string script = Binaries().Bin("tether") +
                       " run -- /bin/sh -c \"read x; echo stolen=\\$x\" & sleep 1; read line; "
                       "echo shell=$line; kill -9 %1";
  RunResult result = RunUnderScriptTypingLater("/bin/sh -m -c '" + script + "'", "secret\n",
                                               std::chrono::seconds(3));
  EXPECT_NE(result.out.find("shell=secret"), std::string::npos) << "out:\n" << result.out;
  EXPECT_EQ(result.out.find("stolen=secret"), std::string::npos) << "out:\n" << result.out;
}

}  // namespace
}  // namespace tether::testing
