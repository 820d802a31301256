#ifndef TETHER_BROKER_RUN_SESSION_H_
#define TETHER_BROKER_RUN_SESSION_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "broker/cgroup.h"
#include "broker/default_policy.h"
#include "broker/egress_proxy.h"
#include "broker/filesystem_view.h"
#include "broker/gpu_policy.h"
#include "broker/host/host_probe.h"
#include "broker/netns.h"
#include "broker/planner.h"
#include "broker/report/launch_timeline.h"
#include "broker/report/ocsf_events.h"
#include "broker/report/posture_report.h"
#include "broker/report/recorder.h"
#include "broker/stub_channel.h"
#include "broker/user_namespace.h"
#include "broker/working_directory.h"
#include "ipc/messages.h"
#include "ipc/unique_fd.h"
#include "policy/landlock_ruleset.h"
#include "policy/resources.h"

namespace tether::broker {

struct RunOptions {
  std::string stub_path;  // empty: tether-stub beside the broker
  std::optional<std::string> user;
  std::optional<std::string> report_path;
  std::optional<std::string> events_path;  // OCSF events, one JSON object per line
  int events_fd = -1;  // serve: the server's open event log, shared by every session
  std::vector<std::string> argv;
  SandboxPolicy policy;
  Enforcement enforcement;
  NetworkMode network_mode = NetworkMode::kIsolated;
  GpuSelection gpus;  // none unless asked
  GpuDiscoveryOptions gpu_discovery;
  ProcConflict proc_conflict = ProcConflict::kPromote;
  bool user_lists_proc_read_only = false;
  std::optional<std::string> group;
  std::vector<std::string> supplementary_groups;
  std::optional<std::string> working_directory;  // default: the broker's
  std::vector<PlanInput::Limit> rlimits;
  std::vector<std::string> warnings;         // printed once the run starts
  std::optional<std::string> sidecar_token;  // serve: stubs must present it
  // Set by PrepareOnce: the policy's workload filter, compiled once, and
  // the broker's own supervisor filter where it compiled.
  std::optional<std::vector<struct sock_filter>> compiled_seccomp;
  std::string compiled_seccomp_key;  // its launch cache key (WorkloadFilterKey)
  std::optional<std::vector<struct sock_filter>> compiled_supervisor;
  // Serve: the broker's own namespaces (NamespaceInodesOf("self")), read
  // once by the server. A session never enters another namespace itself
  // (its helpers do, in processes of their own), so every worker forked
  // from the server shares them. Empty: the session reads them.
  std::vector<uint64_t> broker_namespace_inodes;
  // Serve: the host's home directories, looked up by the server (a name
  // service lookup, which loads its modules) and looked up again when
  // /etc/passwd changes, so that no worker repeats it. Unset: the session
  // looks them up itself.
  std::optional<std::vector<std::string>> home_directories;
  // Isolated network only: what the egress proxy lets through (none: no
  // proxy, loopback only).
  EgressConfig egress;
  // Cgroup limits and the timeout (the pids limit applies unasked).
  policy::ResourceLimits resources;
  absl::Duration handshake_timeout = absl::Seconds(30);
};

// The inodes of /proc/<process>/ns/*, in ipc::kNamespaceNames order; 0
// where one cannot be read.
std::vector<uint64_t> NamespaceInodesOf(const std::string& process);

// For a long-lived broker: compiles the policy's workload filter and runs
// the host probes once, so that every session forked afterwards reuses them.
// `timeline`, where given, gets the two as phases.
absl::Status PrepareOnce(RunOptions* options, LaunchTimeline* timeline = nullptr);

// One `tether run`: forks the stub over a socketpair, checks its Hello
// against /proc, plans, sends the plan with its fds, collects every step
// result, verifies the final posture from /proc, says Go, then supervises
// the workload (signals forwarded) and returns the exit status to use.
class RunSession {
 public:
  explicit RunSession(RunOptions options);
  RunSession(const RunSession&) = delete;
  RunSession& operator=(const RunSession&) = delete;
  ~RunSession();

  int Run();

  // Sidecar mode (`tether serve`): the stub connected on `socket` from
  // `peer_pid` as `peer_uid`:`peer_gid`. The same handshake, except that
  // the command, environment and working directory come from the stub's
  // Hello, and the broker's /proc checks apply only where it can see the
  // stub (same pid namespace); elsewhere the report says stub-attested.
  // Returns 0 once the workload runs, 125 when the stub was refused.
  int Serve(UniqueFd socket, pid_t peer_pid, uid_t peer_uid, gid_t peer_gid);

  // For a pool of waiting sessions: before any stub connects, makes the
  // isolated network, restricts this process with the supervisor filter,
  // seals the workload's seccomp program and looks up the home
  // directories, so that a launch waits for none of them.
  void WarmUp();
  // Serve: the report goes to <pid>-<random>.json in this directory (an fd
  // the server checked, see output_file.h).
  void SetReportDirectory(int directory_fd, std::string display) {
    recorder_.SetReportDirectory(directory_fd, std::move(display));
  }

  // After Serve: keeps the isolated network until the workload exits, and
  // ends it at the timeout (where the broker can see it).
  void HoldUntilWorkloadExits();

 private:
  // What Run and Serve share before the handshake: the target identity,
  // the report's header and the output files.
  std::optional<Refusal> Prologue(uid_t uid, gid_t gid, const std::vector<uint32_t>& groups);
  absl::Status OpenStubBinary();
  absl::Status PlanSandbox();
  void MakeCgroup();
  absl::Status StartStub();
  absl::Status RecordResources();
  absl::Status RecordSidecarResources();
  // Ends the sandbox: every process in its cgroup, and the stub.
  void KillSandbox();
  // The exit status once the workload ended, the report's exit record and
  // an event for a limit that ended it.
  int FinishRun(int status);
  absl::Status MapUserNamespace();
  // Until the cloned child's report on `fd` can be read, within the
  // handshake's deadline: `too_long` once it passed, else poll's error.
  absl::Status AwaitChildReport(int fd, absl::string_view too_long, absl::string_view poll_call);
  absl::Status AdoptSandboxNetwork(int report_fd);
  absl::Status CollectView(int outcomes_fd);
  absl::Status Handshake();
  void RecordSidecarLayers(const ipc::Hello& hello);
  absl::StatusOr<Plan> MakePlan(const ipc::Hello& hello, std::vector<UniqueFd>* fds);
  std::string StubRoot() const;
  policy::LandlockRules PolicyLandlockRules() const;
  void BuildRulesetAhead();
  void GrantWorkingDirectory(policy::LandlockRules* rules);
  absl::Status CheckLandlockAloneCanNarrow(const policy::LandlockRules& rules);
  absl::Status CollectResults(const Plan& plan);
  absl::Status VerifyPosture(const Plan& plan);
  absl::Status RestrictSupervisor();
  struct SupervisorLoad {
    absl::Status loaded;   // the program compiled and the kernel took it
    absl::Status checked;  // then /proc/self/status says Seccomp 2
  };
  SupervisorLoad LoadSupervisorFilter();
  std::optional<Refusal> GrantGpus();
  ProbeResult PrepareNetwork(const HostFacts& facts);
  absl::Status RecordEgress(std::vector<std::string>* envp);
  void ReportEgressProxyGone();
  int EventsFd();
  const absl::StatusOr<std::vector<struct sock_filter>>& SupervisorFilter();
  int Supervise();
  void RestoreTerminal();
  void KillAndReapStub();
  // Ends a run that could not start: the report and events say why, and
  // the exit status follows the refusal's kind.
  int Fail(const Refusal& refusal);
  int Fail(const absl::Status& status);  // a set-up failure (125)

  // Ends the launch phase that ends now; the stub's own timing of its
  // steps breaks down "stub_steps".
  void RecordStubStepTimes(const Plan& plan);

  RunOptions options_;
  LaunchTimeline timeline_;
  StubChannel channel_;
  Recorder recorder_;
  TargetIdentity target_;
  std::string working_directory_;            // canonical (local) or normalised (sidecar)
  std::vector<std::string> requested_envp_;  // a sidecar stub's environment
  // The stub: the checked binary (local), then the process.
  UniqueFd stub_binary_;
  pid_t child_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = false;
  bool sidecar_ = false;
  bool stub_visible_ = true;  // /proc/<stub> is the stub's (same pid namespace)
  bool hello_received_ = false;
  // Destroyed with the session; the kernel removes the namespace once the
  // workload is gone too.
  std::unique_ptr<IsolatedNetwork> network_;
  std::optional<ProbeResult> warm_network_;  // what WarmUp made of the network
  // The egress proxy serving the network's listener (killed with the
  // session), or why it did not start.
  std::unique_ptr<EgressProxy> egress_proxy_;
  bool egress_alive_ = true;
  std::optional<absl::StatusOr<std::vector<struct sock_filter>>> supervisor_filter_;
  // Serve: what WarmUp did before any stub connected, so that a launch is
  // the handshake alone. The supervisor filter's load (its outcome is
  // recorded with the session), the workload's sealed seccomp program and
  // the host's home directories (a name service lookup).
  std::optional<SupervisorLoad> supervisor_loaded_;
  UniqueFd warm_sealed_program_;
  // The policy's Landlock ruleset for the broker's ABI (BuildRulesetAhead);
  // 0: none built, or already taken.
  int ruleset_ahead_abi_ = 0;
  absl::StatusOr<UniqueFd> ruleset_ahead_ = absl::UnavailableError("not built");
  std::optional<std::vector<std::string>> home_directories_;
  absl::Status egress_error_;
  std::vector<ipc::StepResult> results_;
  // Local mode: the namespaces the stub is cloned into, the view built in
  // them, and their records.
  int clone_flags_ = 0;
  std::optional<ViewPlan> view_;
  UniqueFd view_root_;  // the stub's root once the view is built
  std::optional<WorkingDirectoryAccess> working_directory_access_;
  std::vector<MechanismRecord> namespace_records_;
  std::vector<MechanismRecord> view_records_;
  // Local mode: the sandbox's cgroup (its limits, and every process of the
  // sandbox killed and the directories removed with the session).
  std::unique_ptr<SandboxCgroup> cgroup_;
  bool timed_out_ = false;
  bool memory_limit_hit_ = false;
  // A broker without CAP_SYS_ADMIN: the sandbox's user namespace maps the
  // target's ids (what the stub sees) to the broker's own (what the host
  // sees, and what the final posture is checked against).
  std::optional<IdMapping> id_mapping_;
  TargetIdentity outside_target_;
  // Its network namespace, made at clone time and set up by the child.
  bool network_at_clone_ = false;
  pid_t terminal_group_ = -1;  // the foreground group of stdin's terminal
  UniqueFd proceed_write_;     // the broker's end of the pipe the cloned child waits on
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_RUN_SESSION_H_
