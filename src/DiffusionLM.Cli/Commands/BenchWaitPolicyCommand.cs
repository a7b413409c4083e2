using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using DiffusionLM.Models;
using DiffusionLM.Runtime;
using DiffusionLM.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Cli.Commands;

/// <summary>
/// dlm bench wait-policy: what the OpenMP wait policy costs. libgomp reads OMP_WAIT_POLICY and GOMP_SPINCOUNT
/// once when libtorch loads, so each measurement is a child process of this command under one policy; the
/// policies take turns (the order rotates each round), side by side in one run, so a change of load on the
/// machine hits all of them. Each child times several repetitions of its workload and prints the median, since
/// a 64-step generation lasts a fraction of a second. <c>--busy N</c> spins N threads in this process while the
/// children run: the "one other job on the cores" case the policy exists for.
/// </summary>
public static class BenchWaitPolicyCommand
{
    static readonly string[] Workloads = ["generate", "forward"];

    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var repeats = new Option<int>("--repeats") { Description = "child processes per (policy, workload, threads); the median is reported", DefaultValueFactory = _ => 3 };
        var threads = new Option<int[]>("--threads") { Description = "torch thread counts to measure", DefaultValueFactory = _ => [1, Environment.ProcessorCount], AllowMultipleArgumentsPerToken = true };
        var policies = new Option<string[]>("--policies")
        {
            Description = $"policies to compare, the first being the reference of the ratios: ACTIVE, PASSIVE, spin:N (PASSIVE with GOMP_SPINCOUNT=N), default (neither variable set: dlm chooses at start, {ThreadWaitPolicy.Describe(ThreadWaitPolicy.SettingsFor(busy: false))} on an idle machine, {ThreadWaitPolicy.Describe(ThreadWaitPolicy.SettingsFor(busy: true))} on a busy one)",
            DefaultValueFactory = _ => ["ACTIVE", "PASSIVE", "default"],
            AllowMultipleArgumentsPerToken = true,
        };
        var busy = new Option<int>("--busy") { Description = "threads that spin in this process while the children run (0: an idle machine; 1: one other busy job)", DefaultValueFactory = _ => 0 };
        var child = new Option<string?>("--child") { Description = "(internal) run one workload in this process and print its seconds", Hidden = true };
        var json = new Option<bool>("--json") { Description = "print the figures as JSON" };
        var cmd = new Command("wait-policy", "Time a 64-step generation and a batched forward in child processes under each OpenMP wait policy (ACTIVE spinning, PASSIVE, a bounded spin, dlm's own choice), taking turns, and print each one's ratio to the first (> 1 means slower); --busy 1 adds a competing job.")
        {
            model, repeats, threads, policies, busy, child, json,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            if (r.GetValue(child) is string w) return Child(w, r.GetValue(threads)![0], r.GetValue(model));
            int reps = r.GetValue(repeats), busyThreads = r.GetValue(busy);
            OptionRanges.Positive("--repeats", reps);
            if (busyThreads < 0 || busyThreads > 64) throw new DlmException($"--busy must be between 0 and 64 (got {busyThreads})");
            // Checked here, not in the children: a child's libtorch aborts on 0 threads with a C++ message that names no option.
            foreach (int t in r.GetValue(threads)!) OptionRanges.Positive("--threads", t);
            var specs = r.GetValue(policies)!.Select(Policy.Parse).ToArray();
            if (specs.Length == 0) throw new DlmException("--policies needs at least one policy");
            using var load = new BusyThreads(busyThreads);
            var rows = new List<Row>();
            foreach (var work in Workloads)
                foreach (int t in r.GetValue(threads)!.Distinct())
                {
                    var times = specs.Select(_ => new List<double>()).ToArray();
                    var choices = specs.Select(_ => new SortedSet<string>(StringComparer.Ordinal)).ToArray();
                    for (int i = 0; i < reps; i++)
                        for (int k = 0; k < specs.Length; k++)
                        {
                            int p = (k + i) % specs.Length; // rotate who goes first, so no policy always follows the same one
                            var (seconds, choice) = Spawn(specs[p], work, t, r.GetValue(model));
                            times[p].Add(seconds);
                            choices[p].Add(choice);
                        }
                    double reference = Median(times[0]);
                    for (int p = 0; p < specs.Length; p++)
                        rows.Add(new Row(work, t, specs[p].Name, specs[p].Described, Median(times[p]), Median(times[p]) / reference, string.Join(" | ", choices[p])));
                }
            string cpu = Reports.BenchFiles.CpuName();
            double loadAverage = LoadAverage();
            if (r.GetValue(json)) { Io.Out.WriteLine(JsonSerializer.Serialize(new { cpu, load_average_1min = loadAverage, busy_threads = busyThreads, repeats = reps, reference = specs[0].Name, rows })); return 0; }
            Io.Out.WriteLine($"{cpu}, {Environment.ProcessorCount} cores, {busyThreads} busy thread(s) beside the children, load average {loadAverage:F2} at the end, {reps} child processes per cell");
            foreach (var s in specs) Io.Out.WriteLine($"  {s.Name,-12} = {s.Described}");
            Io.Out.WriteLine($"{"workload",-10} {"threads",7} {"policy",-12} {"median s",9} {"÷ " + specs[0].Name,10}");
            foreach (var row in rows)
                Io.Out.WriteLine($"{row.workload,-10} {row.threads,7} {row.policy,-12} {row.seconds,9:F3} {row.ratio,10:F3}{(row.policy == "default" ? "   " + row.children_chose : "")}");
            return 0;
        }));
        return cmd;
    }

    public sealed record Row(string workload, int threads, string policy, string environment, double seconds, double ratio, string children_chose);

    /// <summary>One policy to measure: a name and the OpenMP variables its child gets (the others removed).</summary>
    sealed record Policy(string Name, IReadOnlyDictionary<string, string> Variables)
    {
        public string Described => Variables.Count == 0 ? "(neither variable: dlm's choice at start)" : ThreadWaitPolicy.Describe(Variables);

        public static Policy Parse(string spec)
        {
            string s = spec.Trim();
            if (s.Equals("ACTIVE", StringComparison.OrdinalIgnoreCase) || s.Equals("PASSIVE", StringComparison.OrdinalIgnoreCase))
                return new(s.ToUpperInvariant(), new Dictionary<string, string> { [ThreadWaitPolicy.Variable] = s.ToUpperInvariant() });
            if (s.Equals("default", StringComparison.OrdinalIgnoreCase))
                return new("default", new Dictionary<string, string>()); // the child's own ThreadWaitPolicy decides
            if (s.StartsWith("spin:", StringComparison.OrdinalIgnoreCase) && long.TryParse(s[5..], out long n) && n >= 0)
                return new($"spin:{n}", new Dictionary<string, string> { [ThreadWaitPolicy.Variable] = "PASSIVE", [ThreadWaitPolicy.SpinVariable] = n.ToString() });
            throw new DlmException($"--policies: \"{spec}\" is not a policy (expected ACTIVE, PASSIVE, default or spin:N with N ≥ 0)");
        }
    }

    /// <summary>Threads that spin until disposed: a stand-in for another job on the machine's cores.</summary>
    sealed class BusyThreads : IDisposable
    {
        volatile bool _stop;
        readonly Thread[] _threads;

        public BusyThreads(int count)
        {
            _threads = Enumerable.Range(0, count).Select(_ => new Thread(() => { long x = 0; while (!_stop) x++; GC.KeepAlive(x); }) { IsBackground = true }).ToArray();
            foreach (var t in _threads) t.Start();
        }

        public void Dispose() { _stop = true; foreach (var t in _threads) t.Join(); }
    }

    static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToArray(); return s[s.Length / 2]; }

    /// <summary>Runs this command again as a child under the policy and reads the seconds it prints and what its policy was.</summary>
    static (double Seconds, string Choice) Spawn(Policy policy, string workload, int threads, string? model)
    {
        var self = Environment.GetCommandLineArgs()[0];
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (self.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) psi.ArgumentList.Add(self);
        foreach (var a in new[] { "bench", "wait-policy", "--child", workload, "--threads", threads.ToString() }) psi.ArgumentList.Add(a);
        if (model is not null) { psi.ArgumentList.Add("--model"); psi.ArgumentList.Add(model); }
        // The child sees exactly this policy's variables: one inherited from this process would mix two policies.
        psi.Environment.Remove(ThreadWaitPolicy.Variable);
        psi.Environment.Remove(ThreadWaitPolicy.SpinVariable);
        foreach (var (k, v) in policy.Variables) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new DlmException("bench wait-policy: could not start a child process");
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (p.ExitCode != 0 || lines.Length < 2 || !double.TryParse(lines[0], System.Globalization.CultureInfo.InvariantCulture, out double s))
            throw new DlmException($"bench wait-policy: the {policy.Name} child for {workload} failed (exit {p.ExitCode}): {stderr.Trim()}");
        return (s, lines[1]);
    }

    static int Child(string workload, int threads, string? modelPath)
    {
        set_num_threads(threads);
        using var _ = no_grad();
        var (m, _tok) = Checkpoint.Load(ModelLocator.Resolve(modelPath));
        using var __ = m;
        m.eval();
        using var g = new Generator(0);
        using var prompt = randint(0, m.Config.VocabSize, [1, 8], generator: g);
        // A generation lasts a fraction of a second, a forward batch seconds: repeat the short one so that one
        // child's figure is a median, not a single draw of the scheduler.
        (Action work, int timed) = workload switch
        {
            "generate" => ((Action)(() => new LladaSampler(new LladaSamplerOptions(GenLength: 64, Steps: 64, BlockLength: 64)).Generate(m, prompt, g)), 7),
            "forward" => (() => { using var s = NewDisposeScope(); using var ids = randint(0, m.Config.VocabSize, [8, m.Config.MaxSequenceLength], generator: g); for (int i = 0; i < 20; i++) m.Logits(ids); }, 1),
            _ => throw new DlmException($"bench wait-policy: unknown workload \"{workload}\" (expected {string.Join(", ", Workloads)})"),
        };
        work(); // warm-up
        var seconds = new List<double>();
        for (int i = 0; i < timed; i++)
        {
            var sw = Stopwatch.StartNew();
            work();
            seconds.Add(sw.Elapsed.TotalSeconds);
        }
        Io.Out.WriteLine(Median(seconds).ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Io.Out.WriteLine(ThreadWaitPolicy.Choice);
        return 0;
    }

    static double LoadAverage()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or FormatException) { return double.NaN; }
    }
}
