using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// Cairn's iSCSI target against tgtd 1.0.85, both in one run on the same machine serving the same 256 MiB of random
/// data: <c>iscsi-perf</c> reads (4 KiB and 128 KiB, 32 in flight), writes from <see cref="BenchInitiator"/>, and the
/// memory of the cairn process per idle session and per 1,000 targets. Rounds alternate which side goes first; the
/// best round of each side is reported. Figures are reported, not asserted: the exit code is non-zero only on errors.
/// </summary>
internal static partial class IscsiBench
{
    private const string TargetIqn = "iqn.2026-01.org.cairn:bench";
    private const string PerfInitiator = "iqn.2026-01.org.cairn:bench-perf";
    private const string WriteInitiator = "iqn.2026-01.org.cairn:bench-writer";
    private const int Depth = 32;

    private sealed record Load(string Name, int Blocks, bool Random, bool Write);

    private sealed record Sample(double Iops, double MiBps, double CpuSeconds, double Seconds);

    public static int Run(string[] args)
    {
        static int Int(string[] a, string n, string d) => int.Parse(BenchArgs.Get(a, n, d), CultureInfo.InvariantCulture);
        int seconds = Int(args, "seconds", "10"), rounds = Int(args, "rounds", "2"), mib = Int(args, "mib", "256");
        int sessions = Int(args, "sessions", "100"), targets = Int(args, "targets", "1000");
        // --skip reads,writes,memory and --loads SUBSTRING leave parts out (for quick checks and profiling; the
        // documented run does everything).
        var skip = BenchArgs.Get(args, "skip", "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var dir = BenchArgs.Scratch(args, "iscsi");
        try
        {
            var image = Path.Combine(dir, "disk.img");
            MakeRandomFile(image, (long)mib << 20);
            Console.WriteLine($"iSCSI target vs tgtd: {mib} MiB of random data, queue depth {Depth}, {seconds} s per run, best of {rounds} rounds (alternating which side goes first)");
            Console.WriteLine($"load before: {Uptime()}");

            var loads = new[]
            {
                new Load("read 4 KiB sequential", 8, false, false),
                new Load("read 4 KiB random", 8, true, false),
                new Load("read 128 KiB sequential", 256, false, false),
                new Load("write 4 KiB random", 8, true, true),
                new Load("write 128 KiB sequential", 256, false, true),
                new Load("write 8 MiB sequential", 16384, false, true), // R2Ts and the write buffer budget
            }.Where(l => !skip.Contains(l.Write ? "writes" : "reads") && l.Name.Contains(BenchArgs.Get(args, "loads", ""), StringComparison.Ordinal)).ToArray();
            var results = loads.ToDictionary(l => l, _ => (Tgtd: new List<Sample>(), Cairn: new List<Sample>(), Tuned: new List<Sample>()));
            string tgtdNeg, cairnNeg, tunedNeg;
            // --zfs: the volume lives in a zfs-fuse pool; Cairn's target serves it through the ZFS engine and tgtd serves
            // the same volume's image file, so both read the same bytes from the same dataset.
            bool onZfs = args.Contains("--zfs");
            var zpool = "cibench" + Guid.NewGuid().ToString("N")[..6];
            using var zfs = onZfs ? ZfsFuse.EnsureRunning() : null;
            if (onZfs)
            {
                var poolFile = Path.Combine(dir, "zpool.img");
                using (var f = File.Create(poolFile)) f.SetLength(4L << 30);
                ZfsLunBench.Run("zpool", "create", "-m", Path.Combine(dir, "mnt"), zpool, poolFile);
                Console.WriteLine($"on zfs-fuse: pool {zpool}; Cairn serves {zpool}/disk through its ZFS engine, tgtd serves that dataset's image file");
            }
            var volume = onZfs ? zpool + "/disk" : "bench/disk";
            try
            {
            using (var cairn = new ServerProcess(Path.Combine(dir, "data"), onZfs ? ["--pools", zpool + ":zfs"] : []))
            {
                cairn.Cli("volume", "import", volume, image, "--parents");
                var served = onZfs ? Path.Combine(dir, "mnt", "disk", "volume.img") : image;
                using var tgtd = new TgtdProcess(served, TargetIqn);
                using var tuned = new TgtdProcess(served, TargetIqn);
                tuned.Tune();
                cairn.Cli("target", "create", TargetIqn, "--volume", volume, "--initiator", PerfInitiator, "--initiator", WriteInitiator);
                int cairnPid = FindServerPid(cairn.DataDir);
                var tgtdSide = new Side("tgtd", tgtd.Port, 1, tgtd.Pid);
                var cairnSide = new Side("cairn", cairn.IscsiPort, 0, cairnPid);
                var tunedSide = new Side("tgtd tuned", tuned.Port, 1, tuned.Pid);
                tgtdNeg = Negotiated(tgtdSide);
                cairnNeg = Negotiated(cairnSide);
                tunedNeg = Negotiated(tunedSide);
                long capacity = ((long)mib << 20) / 512;
                for (int r = 0; r < rounds; r++)
                {
                    foreach (var load in loads)
                    {
                        var order = r % 2 == 0 ? new[] { tgtdSide, cairnSide } : [cairnSide, tgtdSide];
                        // Writes also run against tgtd with Cairn's login offers (after the pair, alternating place).
                        if (load.Write) order = r % 2 == 0 ? [.. order, tunedSide] : [tunedSide, .. order];
                        foreach (var side in order)
                        {
                            var s = Measure(side, load, seconds, capacity);
                            (side == tgtdSide ? results[load].Tgtd : side == cairnSide ? results[load].Cairn : results[load].Tuned).Add(s);
                            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                $"  round {r + 1} {load.Name,-26} {side.Name,-10}: {s.Iops,9:F0} IOPS {s.MiBps,8:F1} MiB/s  server CPU {s.CpuSeconds / s.Seconds * 100,4:F0}%  {s.CpuSeconds * 1e6 / (s.Iops * s.Seconds),6:F1} µs/IO"));
                        }
                    }
                }
            }

            }
            finally
            {
                if (onZfs) ZfsFuse.DestroyPool(zpool);
            }

            bool mem = !skip.Contains("memory") && !onZfs;
            var memory = mem ? MeasureMemory(dir, mib, sessions, targets) : "  (skipped)";
            var tgtdMemory = mem ? MeasureTgtdSessions(image, sessions) : "";

            Console.WriteLine();
            Console.WriteLine($"load after: {Uptime()}");
            Console.WriteLine($"negotiated by the bench initiator (writes):");
            Console.WriteLine($"  tgtd       {tgtdNeg}");
            Console.WriteLine($"  tgtd tuned {tunedNeg}");
            Console.WriteLine($"  cairn      {cairnNeg}");
            Console.WriteLine();
            Console.WriteLine("| Load (32 in flight) | tgtd | Cairn | Cairn/tgtd | Target | tgtd CPU µs/IO | Cairn CPU µs/IO |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            foreach (var load in loads)
            {
                var (t, c, tu) = results[load];
                var bt = t.MaxBy(x => x.Iops)!;
                var bc = c.MaxBy(x => x.Iops)!;
                bool big = load.Blocks >= 256;
                string unit(Sample s) => big
                    ? string.Create(CultureInfo.InvariantCulture, $"{s.MiBps:F0} MiB/s ({s.Iops:F0} IOPS)")
                    : string.Create(CultureInfo.InvariantCulture, $"{s.Iops:F0} IOPS ({s.MiBps:F1} MiB/s)");
                string target = load.Write ? "≥ 1.2×" : big ? "≥ 1.2× MB/s" : load.Random ? "(extra)" : "≥ 1.5× IOPS";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {load.Name} | {unit(bt)} | {unit(bc)} | {bc.Iops / bt.Iops:F2} | {target} | {Cpu(bt):F1} | {Cpu(bc):F1} |"));
            }
            foreach (var load in loads.Where(l => l.Write))
            {
                var (_, c, tu) = results[load];
                var bu = tu.MaxBy(x => x.Iops)!;
                var bc = c.MaxBy(x => x.Iops)!;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {load.Name}, tgtd tuned | {bu.Iops:F0} IOPS ({bu.MiBps:F1} MiB/s) | {bc.Iops:F0} IOPS ({bc.MiBps:F1} MiB/s) | {bc.Iops / bu.Iops:F2} | (extra) | {Cpu(bu):F1} | {Cpu(bc):F1} |"));
            }
            Console.WriteLine();
            Console.WriteLine("memory (VmRSS of the server process):");
            Console.WriteLine(memory);
            Console.WriteLine(tgtdMemory);
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    private static double Cpu(Sample s) => s.CpuSeconds * 1e6 / (s.Iops * s.Seconds);

    private sealed record Side(string Name, int Port, int Lun, int Pid)
    {
        public string Url(string iqn) => $"iscsi://127.0.0.1:{Port}/{iqn}/{Lun}";
    }

    private static string Negotiated(Side side)
    {
        using var i = BenchInitiator.Login(side.Port, TargetIqn, WriteInitiator, side.Lun, 1);
        var n = i.Negotiated;
        i.Logout();
        return n;
    }

    private static Sample Measure(Side side, Load load, int seconds, long capacityBlocks)
    {
        double cpu0 = CpuSeconds(side.Pid);
        if (load.Write)
        {
            using var i = BenchInitiator.Login(side.Port, TargetIqn, WriteInitiator, side.Lun, 2);
            i.ClearUnitAttention();
            var w = i.RunWrites(load.Blocks, Depth, load.Random, capacityBlocks, TimeSpan.FromSeconds(seconds));
            double cpu = CpuSeconds(side.Pid) - cpu0;
            i.Logout();
            return new Sample(w.Iops, w.MiBps, cpu, w.Seconds);
        }
        var sw = Stopwatch.StartNew();
        var perfArgs = new List<string> { "-i", PerfInitiator, "-m", Depth.ToString(CultureInfo.InvariantCulture), "-b", load.Blocks.ToString(CultureInfo.InvariantCulture), "-t", seconds.ToString(CultureInfo.InvariantCulture) };
        if (load.Random) perfArgs.Add("-r");
        perfArgs.Add(side.Url(TargetIqn));
        var output = RunTool("iscsi-perf", perfArgs, TimeSpan.FromSeconds(seconds + 30));
        double elapsed = sw.Elapsed.TotalSeconds;
        double cpuUsed = CpuSeconds(side.Pid) - cpu0;
        var m = PerfAverage().Matches(output);
        if (m.Count == 0) throw new InvalidOperationException($"iscsi-perf against {side.Name} printed no average:\n{output}");
        double iops = double.Parse(m[^1].Groups[1].Value, CultureInfo.InvariantCulture);
        // iscsi-perf's own MB/s is rounded to whole units; derive it from IOPS and the transfer size.
        return new Sample(iops, iops * load.Blocks * 512 / (1 << 20), cpuUsed, Math.Min(elapsed, seconds));
    }

    [GeneratedRegex(@"iops average (\d+) \((\d+) MB/s\)")]
    private static partial Regex PerfAverage();

    private static string RunTool(string tool, IEnumerable<string> args, TimeSpan limit)
    {
        var r = Commands.RunAsync(tool, args, limit).GetAwaiter().GetResult();
        if (r.TimedOut) throw new InvalidOperationException($"{tool} did not finish in {limit.TotalSeconds} s");
        if (r.ExitCode != 0) throw new InvalidOperationException($"{tool} failed ({r.ExitCode}): {r.StdErr}{r.StdOut}");
        return r.StdOut + r.StdErr;
    }

    internal static void MakeRandomFile(string path, long size)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write);
        var block = new byte[1 << 20];
        var rnd = new Random(3);
        for (long off = 0; off < size; off += block.Length)
        {
            rnd.NextBytes(block);
            fs.Write(block);
        }
        fs.Flush(true);
    }

    /// <summary>The <c>dotnet cairn.dll serve --data DIR</c> process started by <see cref="ServerProcess"/>.</summary>
    internal static int FindServerPid(string dataDir)
    {
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out int pid)) continue;
            try
            {
                var cmd = File.ReadAllText(Path.Combine(d, "cmdline")).Split('\0');
                if (cmd.Contains("serve") && cmd.Contains(dataDir)) return pid;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        throw new InvalidOperationException("cairn server process not found");
    }

    /// <summary>utime + stime of a process from /proc/PID/stat, in seconds (USER_HZ = 100).</summary>
    internal static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After "pid (comm) ", field 3 (state) is index 0; utime and stime are fields 14 and 15.
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>VmRSS from /proc/PID/status, in KiB.</summary>
    internal static long RssKiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
        throw new InvalidOperationException("no VmRSS");
    }

    internal static string Uptime()
    {
        try { return File.ReadAllText("/proc/loadavg").Trim() + $" (loadavg, {Environment.ProcessorCount} cores)"; }
        catch (IOException) { return "?"; }
    }
}
