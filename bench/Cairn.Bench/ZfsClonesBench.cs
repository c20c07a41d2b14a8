using System.Diagnostics;
using Cairn.Core.Processes;
using Cairn.Core.Storage;
using Cairn.Engine.Zfs;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// N clones of one snapshot on zfs-fuse, in one run on one machine: a plain shell loop of <c>zfs clone</c> (each clone
/// mounted, as the original LUN clone service did) against one <see cref="ZfsEngine.ApplyAsync"/> of N CloneSnapshot
/// ops, at several concurrencies, with lazy mounting and with mounting in the clone. Each variant gets a fresh
/// file-backed pool. Also: one <c>zfs get</c> for N names against N single ones, and a whole-pool refresh.
/// Needs a running zfs-fuse daemon. <c>--counts 100,1000 --concurrency 1,4,8,16</c>.
/// </summary>
internal static class ZfsClonesBench
{
    public static int Run(string[] args)
    {
        var counts = BenchArgs.Get(args, "counts", "100,1000").Split(',').Select(int.Parse).ToArray();
        var levels = BenchArgs.Get(args, "concurrency", "1,4,8,16").Split(',').Select(int.Parse).ToArray();
        foreach (var n in counts)
        {
            double shell = Variant(args, n, p => ShellLoop(p, n));
            Console.WriteLine($"zfs clones n={n}: shell loop of zfs clone = {shell:F2} s ({shell * 1000 / n:F1} ms per clone)");
            foreach (var c in levels)
            {
                double lazy = Variant(args, n, p => Apply(p, n, c, lazy: true));
                Console.WriteLine($"zfs clones n={n}: ApplyAsync concurrency {c}, lazy mount = {lazy:F2} s ({lazy * 1000 / n:F1} ms per clone), {shell / lazy:F2}x the shell loop");
            }
            var best = levels.Contains(8) ? 8 : levels[^1];
            double mounted = Variant(args, n, p => Apply(p, n, best, lazy: false));
            Console.WriteLine($"zfs clones n={n}: ApplyAsync concurrency {best}, mounted in the clone = {mounted:F2} s, {shell / mounted:F2}x the shell loop");
        }
        Variant(args, counts.Max(), p => Lookups(p, counts.Max()));
        return 0;
    }

    /// <summary>Runs one measurement on a fresh pool and returns its seconds.</summary>
    private static double Variant(string[] args, int n, Func<string, Task<double>> measure)
    {
        var dir = BenchArgs.Scratch(args, "zfs");
        var pool = "cairn-bench-" + Guid.NewGuid().ToString("N")[..6];
        try
        {
            using (var f = File.Create(Path.Combine(dir, "pool.img"))) f.SetLength(8L << 30);
            Run("zpool", "create", "-m", Path.Combine(dir, "mnt"), pool, Path.Combine(dir, "pool.img"));
            using (var e = new ZfsEngine())
            {
                e.CreateVolumeAsync(pool + "/images/gold", 1L << 30, parents: true).AsTask().Wait();
                using (var dev = e.OpenAsync(pool + "/images/gold").AsTask().Result)
                {
                    var data = new byte[1 << 20];
                    new Random(1).NextBytes(data);
                    for (int i = 0; i < 16; i++) dev.Write((long)i << 20, data, fua: false);
                    dev.Flush();
                }
                e.CreateSnapshotAsync(pool + "/images/gold", "s").AsTask().Wait();
            }
            return measure(pool).Result;
        }
        finally
        {
            for (int i = 0; i < 40 && !Run("zpool", "destroy", "-f", pool).Succeeded; i++) Thread.Sleep(250);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<double> ShellLoop(string pool, int n)
    {
        Run("zfs", "create", pool + "/shell");
        var script = $"for i in $(seq 1 {n}); do zfs clone {pool}/images/gold@s {pool}/shell/c$i || exit 1; done";
        var sw = Stopwatch.StartNew();
        var r = await ProcessRunner.Default.RunAsync(new ProcessSpec("bash", ["-c", script]) { Timeout = TimeSpan.FromMinutes(30) });
        r.ThrowIfFailed();
        return sw.Elapsed.TotalSeconds;
    }

    private static async Task<double> Apply(string pool, int n, int concurrency, bool lazy)
    {
        using var e = new ZfsEngine(new ZfsEngineOptions { Concurrency = concurrency, LazyMountClones = lazy });
        await e.AttachPoolAsync(pool);
        var ops = Enumerable.Range(1, n).Select(i => (EngineOp)new EngineOp.CloneSnapshot(pool + "/images/gold", "s", $"{pool}/nodes/c{i}", Parents: true)).ToList();
        long before = e.CommandsRun;
        var sw = Stopwatch.StartNew();
        var results = await e.ApplyAsync(ops);
        double s = sw.Elapsed.TotalSeconds;
        var failed = results.Where(r => r.Error is not null).ToList();
        if (failed.Count > 0) throw new InvalidOperationException($"{failed.Count} clones failed, first: {failed[0].Error!.Message}");
        Console.WriteLine($"  ({e.CommandsRun - before} zfs commands for {n} clones)");
        return s;
    }

    /// <summary>What the inventory saves: N single <c>zfs get</c> against one for N names, and a whole-pool read.</summary>
    private static async Task<double> Lookups(string pool, int n)
    {
        await Apply(pool, n, 8, lazy: true);
        var names = Enumerable.Range(1, n).Select(i => $"{pool}/nodes/c{i}").ToArray();
        var sw = Stopwatch.StartNew();
        foreach (var name in names.Take(100)) Run("zfs", "get", "-H", "-p", "-o", "name,property,value", ZfsEngine.FigurePropsForBench, name);
        double single = sw.Elapsed.TotalMilliseconds / 100;
        sw.Restart();
        var all = new List<string> { "get", "-H", "-p", "-o", "name,property,value", ZfsEngine.FigurePropsForBench };
        all.AddRange(names);
        Run("zfs", [.. all]);
        double batched = sw.Elapsed.TotalMilliseconds;
        using var e = new ZfsEngine();
        sw.Restart();
        await e.AttachPoolAsync(pool);
        double attach = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        for (int i = 0; i < 100; i++) await e.GetAsync(names[i]);
        double get = sw.Elapsed.TotalMilliseconds * 1000 / 100;
        Console.WriteLine($"zfs lookups at {n + 4} datasets: one zfs get per name = {single:F1} ms each ({single * n / 1000:F2} s for {n}); one zfs get for {n} names = {batched:F0} ms; " +
            $"attach (whole-pool read, 2 commands) = {attach:F0} ms; GetAsync from the inventory = {get:F1} us");
        return 0;
    }

    private static ProcessResult Run(string tool, params string[] args) =>
        Commands.Run(tool, args);
}
