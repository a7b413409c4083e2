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
/// dlm bench wait-policy: what the passive OpenMP wait policy (the default since ThreadWaitPolicy) costs.
/// libgomp reads OMP_WAIT_POLICY once when libtorch loads, so each measurement is a child process of this
/// command under one policy; ACTIVE and PASSIVE children alternate, side by side in one run, so a change of
/// load on the machine hits both. Reports per workload and thread count the median seconds and the ratio.
/// </summary>
public static class BenchWaitPolicyCommand
{
    static readonly string[] Workloads = ["generate", "forward"];

    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var repeats = new Option<int>("--repeats") { Description = "child processes per (policy, workload, threads); the median is reported", DefaultValueFactory = _ => 3 };
        var threads = new Option<int[]>("--threads") { Description = "torch thread counts to measure", DefaultValueFactory = _ => [1, Environment.ProcessorCount], AllowMultipleArgumentsPerToken = true };
        var child = new Option<string?>("--child") { Description = "(internal) run one workload in this process and print its seconds", Hidden = true };
        var json = new Option<bool>("--json") { Description = "print the figures as JSON" };
        var cmd = new Command("wait-policy", "Time a 64-step generation and a batched forward in child processes under OMP_WAIT_POLICY=ACTIVE and PASSIVE, alternating, and print the ratio (passive / active; > 1 means passive is slower).")
        {
            model, repeats, threads, child, json,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            if (r.GetValue(child) is string w) return Child(w, r.GetValue(threads)![0], r.GetValue(model));
            int reps = r.GetValue(repeats);
            OptionRanges.Positive("--repeats", reps);
            // Checked here, not in the children: a child's libtorch aborts on 0 threads with a C++ message that names no option.
            foreach (int t in r.GetValue(threads)!) OptionRanges.Positive("--threads", t);
            var rows = new List<Row>();
            foreach (var work in Workloads)
                foreach (int t in r.GetValue(threads)!.Distinct())
                {
                    var times = new Dictionary<string, List<double>> { ["ACTIVE"] = [], ["PASSIVE"] = [] };
                    for (int i = 0; i < reps; i++)
                        foreach (var policy in i % 2 == 0 ? new[] { "ACTIVE", "PASSIVE" } : new[] { "PASSIVE", "ACTIVE" })
                            times[policy].Add(Spawn(policy, work, t, r.GetValue(model)));
                    double a = Median(times["ACTIVE"]), p = Median(times["PASSIVE"]);
                    rows.Add(new Row(work, t, a, p, p / a));
                }
            string cpu = Reports.BenchFiles.CpuName();
            double load = LoadAverage();
            if (r.GetValue(json)) { Io.Out.WriteLine(JsonSerializer.Serialize(new { cpu, load_average_1min = load, repeats = reps, rows })); return 0; }
            Io.Out.WriteLine($"{cpu}, {Environment.ProcessorCount} cores, load average {load:F2} at the end, {reps} child processes per cell");
            Io.Out.WriteLine($"{"workload",-10} {"threads",7} {"active s",9} {"passive s",9} {"passive/active",14}");
            foreach (var row in rows)
                Io.Out.WriteLine($"{row.workload,-10} {row.threads,7} {row.active_seconds,9:F3} {row.passive_seconds,9:F3} {row.ratio,14:F3}");
            return 0;
        }));
        return cmd;
    }

    public sealed record Row(string workload, int threads, double active_seconds, double passive_seconds, double ratio);

    static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToArray(); return s[s.Length / 2]; }

    /// <summary>Runs this command again as a child under the policy and reads the seconds it prints.</summary>
    static double Spawn(string policy, string workload, int threads, string? model)
    {
        var self = Environment.GetCommandLineArgs()[0];
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (self.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) psi.ArgumentList.Add(self);
        foreach (var a in new[] { "bench", "wait-policy", "--child", workload, "--threads", threads.ToString() }) psi.ArgumentList.Add(a);
        if (model is not null) { psi.ArgumentList.Add("--model"); psi.ArgumentList.Add(model); }
        psi.Environment[ThreadWaitPolicy.Variable] = policy;
        using var p = Process.Start(psi) ?? throw new DlmException("bench wait-policy: could not start a child process");
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 || !double.TryParse(stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture, out double s))
            throw new DlmException($"bench wait-policy: the {policy} child for {workload} failed (exit {p.ExitCode}): {stderr.Trim()}");
        return s;
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
        Action work = workload switch
        {
            "generate" => () => new LladaSampler(new LladaSamplerOptions(GenLength: 64, Steps: 64, BlockLength: 64)).Generate(m, prompt, g),
            "forward" => () => { using var s = NewDisposeScope(); using var ids = randint(0, m.Config.VocabSize, [8, m.Config.MaxSequenceLength], generator: g); for (int i = 0; i < 20; i++) m.Logits(ids); },
            _ => throw new DlmException($"bench wait-policy: unknown workload \"{workload}\" (expected {string.Join(", ", Workloads)})"),
        };
        work(); // warm-up
        var sw = Stopwatch.StartNew();
        work();
        Io.Out.WriteLine(sw.Elapsed.TotalSeconds.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    }

    static double LoadAverage()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or FormatException) { return double.NaN; }
    }
}
