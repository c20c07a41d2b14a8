using System.Globalization;
using System.Text.RegularExpressions;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// 4 KiB writes and reads through an independent initiator, QEMU's iSCSI block driver (<c>qemu-img bench</c>, libiscsi
/// inside QEMU), against Cairn's target and tgtd serving the same 256 MiB of random data, side by side in one run.
/// Each round runs every load against both targets, alternating which goes first; best and median per side are
/// reported with their ratio. Figures are reported, not asserted: the exit code is non-zero only on errors.
/// </summary>
internal static partial class QemuBench
{
    private const string TargetIqn = "iqn.2026-01.org.cairn:qemu-bench";
    private const string Initiator = "iqn.2026-01.org.cairn:qemu-img";
    private const int Depth = 32;

    private sealed record Sample(double Iops, double TargetCpuUs, double QemuCpuUs, string Load);

    public static int Run(string[] args)
    {
        static int Int(string[] a, string n, string d) => int.Parse(BenchArgs.Get(a, n, d), CultureInfo.InvariantCulture);
        int count = Int(args, "count", "200000"), rounds = Int(args, "rounds", "3"), mib = Int(args, "mib", "256");
        // qemu-img bench walks the image with a fixed step (offset = (offset + step) mod (size - 4 KiB)); a step of an
        // odd number of blocks prime to the image's block count visits every block once per pass in a scattered order,
        // the same order on both targets.
        long step = 4096L * Int(args, "step-blocks", "40009");
        var only = BenchArgs.Get(args, "loads", "");
        var help = Commands.Run("qemu-img", "--help");
        if (!help.Succeeded || !help.StdOut.Contains("iscsi", StringComparison.Ordinal))
            throw new InvalidOperationException("qemu-img with the iscsi driver is needed (Debian: qemu-utils and qemu-block-extra)");
        var dir = BenchArgs.Scratch(args, "qemu");
        try
        {
            var image = Path.Combine(dir, "disk.img");
            IscsiBench.MakeRandomFile(image, (long)mib << 20);
            Console.WriteLine($"QEMU (qemu-img bench, iscsi driver) against Cairn's target and tgtd: {mib} MiB of random data, 4 KiB, queue depth {Depth}, {count} requests per run, step {step / 4096} blocks, {rounds} rounds");
            Console.WriteLine($"load before: {IscsiBench.Uptime()}");
            var loads = new[] { "write 4 KiB", "read 4 KiB" }.Where(l => l.Contains(only, StringComparison.Ordinal)).ToArray();
            var results = loads.ToDictionary(l => l, _ => (Tgtd: new List<Sample>(), Cairn: new List<Sample>()));
            using (var cairn = new ServerProcess(Path.Combine(dir, "data")))
            {
                cairn.Cli("volume", "import", "bench/disk", image, "--parents");
                using var tgtd = new TgtdProcess(image, TargetIqn);
                cairn.Cli("target", "create", TargetIqn, "--volume", "bench/disk", "--initiator", Initiator);
                var cairnSide = (Name: "cairn", Port: cairn.IscsiPort, Lun: 0, Pid: IscsiBench.FindServerPid(cairn.DataDir));
                var tgtdSide = (Name: "tgtd", Port: tgtd.Port, Lun: 1, tgtd.Pid);
                // Equal footing for the two files: the page cache keeps a file in folios as large as the writes that
                // filled it (the image was written 1 MiB at a time, Cairn's layer 128 KiB at a time), and a 4 KiB write
                // costs in proportion to its folio (ext4_block_write_begin). Both files are written back and dropped
                // from the cache, then one unmeasured pass of 4 KiB writes over every block fills both caches alike
                // (and warms the server's JIT); then a read pass.
                var layers = Directory.GetFiles(Path.Combine(cairn.DataDir, "pool"), "*.data");
                foreach (var f in layers.Append(image)) DropCache(f);
                int blocks = (int)(((long)mib << 20) / 4096);
                foreach (var side in new[] { tgtdSide, cairnSide })
                {
                    Measure(side.Port, side.Lun, side.Pid, "write 4 KiB", blocks, step);
                    Measure(side.Port, side.Lun, side.Pid, "read 4 KiB", blocks, step);
                }
                for (int r = 0; r < rounds; r++)
                {
                    foreach (var load in loads)
                    {
                        var order = r % 2 == 0 ? new[] { tgtdSide, cairnSide } : [cairnSide, tgtdSide];
                        foreach (var side in order)
                        {
                            var s = Measure(side.Port, side.Lun, side.Pid, load, count, step);
                            (side.Name == "tgtd" ? results[load].Tgtd : results[load].Cairn).Add(s);
                            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                $"  round {r + 1} {load,-12} {side.Name,-6}: {s.Iops,8:F0} IOPS  target {s.TargetCpuUs,5:F1} µs/IO  qemu-img {s.QemuCpuUs,5:F1} µs/IO  load {s.Load}"));
                        }
                    }
                }
            }
            Console.WriteLine($"load after: {IscsiBench.Uptime()}");
            Console.WriteLine();
            Console.WriteLine("| QEMU, 4 KiB, QD 32 | tgtd best (median) | Cairn best (median) | Cairn/tgtd best (median) | tgtd CPU µs/IO | Cairn CPU µs/IO |");
            Console.WriteLine("|---|---|---|---|---|---|");
            foreach (var load in loads)
            {
                var (t, c) = results[load];
                double tb = t.Max(x => x.Iops), cb = c.Max(x => x.Iops), tm = Median(t.Select(x => x.Iops)), cm = Median(c.Select(x => x.Iops));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {load} | {tb:F0} ({tm:F0}) IOPS | {cb:F0} ({cm:F0}) IOPS | **{cb / tb:F2}** ({cm / tm:F2}) | {Median(t.Select(x => x.TargetCpuUs)):F1} | {Median(c.Select(x => x.TargetCpuUs)):F1} |"));
            }
            Console.WriteLine("| round by round (Cairn/tgtd, same round) | " + string.Join(" | ", loads.Select(l =>
                l + ": " + string.Join(", ", results[l].Cairn.Zip(results[l].Tgtd, (c, t) => (c.Iops / t.Iops).ToString("F2", CultureInfo.InvariantCulture))))) + " |");
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    /// <summary>Writes the file's dirty pages back and asks the kernel to drop its cached pages (GNU dd's nocache).</summary>
    private static void DropCache(string path)
    {
        var sync = Commands.Run("sync", "-d", path);
        var drop = Commands.Run("dd", "if=" + path, "iflag=nocache", "count=0", "status=none");
        if (!sync.Succeeded || !drop.Succeeded) throw new InvalidOperationException($"could not drop {path} from the page cache: {sync.Output()}{drop.Output()}");
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    /// <summary>One <c>qemu-img bench</c> run (cache=none, raw over iscsi:) with the target's CPU and qemu-img's own.</summary>
    private static Sample Measure(int port, int lun, int pid, string load, int count, long step)
    {
        var opts = $"driver=raw,file.driver=iscsi,file.transport=tcp,file.portal=127.0.0.1:{port},file.target={TargetIqn},file.lun={lun},file.initiator-name={Initiator}";
        var bench = new List<string> { "qemu-img", "bench", "-t", "none", "-s", "4k", "-d", Depth.ToString(CultureInfo.InvariantCulture),
            "-c", count.ToString(CultureInfo.InvariantCulture), "-S", step.ToString(CultureInfo.InvariantCulture) };
        if (load.StartsWith("write", StringComparison.Ordinal)) bench.Add("-w");
        bench.AddRange(["--image-opts", opts]);
        double cpu0 = IscsiBench.CpuSeconds(pid);
        // GNU time reports qemu-img's own CPU (user, system) on stderr.
        var r = Commands.RunAsync("/usr/bin/time", ["-f", "qemu-cpu %U %S", .. bench], TimeSpan.FromMinutes(5)).GetAwaiter().GetResult();
        double cpu = IscsiBench.CpuSeconds(pid) - cpu0;
        var output = r.Output();
        if (r.Exit() != 0) throw new InvalidOperationException($"qemu-img bench failed: {output}");
        var done = Completed().Match(output);
        var q = QemuCpu().Match(output);
        if (!done.Success || !q.Success) throw new InvalidOperationException($"qemu-img bench printed no time: {output}");
        double seconds = double.Parse(done.Groups[1].Value, CultureInfo.InvariantCulture);
        double qemu = double.Parse(q.Groups[1].Value, CultureInfo.InvariantCulture) + double.Parse(q.Groups[2].Value, CultureInfo.InvariantCulture);
        var loadAvg = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        return new Sample(count / seconds, cpu * 1e6 / count, qemu * 1e6 / count, loadAvg);
    }

    [GeneratedRegex(@"Run completed in ([0-9.]+) seconds")]
    private static partial Regex Completed();

    [GeneratedRegex(@"qemu-cpu ([0-9.]+) ([0-9.]+)")]
    private static partial Regex QemuCpu();
}
