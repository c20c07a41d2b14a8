using System.Diagnostics;
using Cairn.Core.Storage;
using Cairn.Engine;

namespace Cairn.Bench;

/// <summary>
/// Per-clone cost at 100 and at 10,000 clones of one snapshot, each on a fresh durable pool, clones made with batch
/// <c>Apply</c> of 100 (one commit per batch, as the admin API does). Also 1,000 single <c>Clone</c> calls from 8
/// threads, which only group commit keeps cheap.
/// </summary>
internal static class ClonesBench
{
    public static int Run(string[] args)
    {
        int big = int.Parse(BenchArgs.Get(args, "count", "10000"), System.Globalization.CultureInfo.InvariantCulture);
        // Warm-up (JIT, SQLite) on a throwaway pool.
        Measure(args, 300, 100);
        var small = new List<double>();
        for (int i = 0; i < 5; i++) small.Add(Measure(args, 100, 100));
        small.Sort();
        double at100 = small[2];
        double atBig = Measure(args, big, 100);
        Console.WriteLine($"clones: per-clone cost at 100 = {at100:F1} us (median of 5), at {big:N0} = {atBig:F1} us, ratio {atBig / at100:F2}");
        double single = Concurrent(args, 1000, 8);
        Console.WriteLine($"clones: 1,000 single Clone calls from 8 threads (group commit) = {single:F0} ms ({single:F0} us per clone)");
        return 0;
    }

    private static (string Dir, EmbeddedEngine Engine) Pool(string[] args)
    {
        var dir = BenchArgs.Scratch(args, "clones");
        var e = new EmbeddedEngine(dir);
        e.CreateVolume("p/origin", 1L << 30);
        using (var d = e.Open("p/origin"))
        {
            var buf = new byte[1 << 20];
            new Random(1).NextBytes(buf);
            for (int i = 0; i < 16; i++) d.Write((long)i * 64 << 20, buf, fua: false); // 16 MiB spread over the volume
        }
        e.CreateSnapshot("p/origin", "s");
        return (dir, e);
    }

    /// <summary>Microseconds per clone for <paramref name="count"/> clones made in batches.</summary>
    private static double Measure(string[] args, int count, int batch)
    {
        var (dir, e) = Pool(args);
        try
        {
            var sw = Stopwatch.StartNew();
            for (int done = 0; done < count; done += batch)
            {
                var ops = new List<EngineOp>(batch);
                for (int i = done; i < Math.Min(count, done + batch); i++) ops.Add(new EngineOp.CloneSnapshot("p/origin", "s", $"p/c{i}"));
                foreach (var r in e.Apply(ops)) if (r.Error is not null) throw r.Error;
            }
            return sw.Elapsed.TotalMicroseconds / count;
        }
        finally
        {
            e.Dispose();
            Directory.Delete(dir, true);
        }
    }

    private static double Concurrent(string[] args, int count, int threads)
    {
        var (dir, e) = Pool(args);
        try
        {
            int next = -1;
            var sw = Stopwatch.StartNew();
            var ts = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < count) e.Clone("p/origin", "s", $"p/c{i}");
            })).ToList();
            ts.ForEach(t => t.Start());
            ts.ForEach(t => t.Join());
            return sw.Elapsed.TotalMilliseconds;
        }
        finally
        {
            e.Dispose();
            Directory.Delete(dir, true);
        }
    }
}
