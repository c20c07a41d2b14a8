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
        // Warm-up (JIT, SQLite) on a throwaway pool. Then both sizes, interleaved, median of each: the cost of a batch
        // is mostly its commit's fsync, whose latency follows the other tenants' I/O. The same again without fsync
        // shows the engine's own cost.
        foreach (bool durable in new[] { true, false })
        {
            Measure(args, 300, 100, durable);
            var small = new List<double>();
            var large = new List<double>();
            for (int rep = 0; rep < 3; rep++)
            {
                for (int i = 0; i < 3; i++) small.Add(Measure(args, 100, 100, durable));
                large.Add(Measure(args, big, 100, durable));
            }
            double at100 = Median(small), atBig = Median(large);
            Console.WriteLine($"clones ({(durable ? "durable" : "no fsync")}): per-clone cost at 100 = {at100:F1} us, at {big:N0} = {atBig:F1} us (medians, batches of 100), ratio {atBig / at100:F2}");
        }
        double single = Concurrent(args, 1000, 8);
        Console.WriteLine($"clones: 1,000 single Clone calls from 8 threads (group commit) = {single:F0} ms ({single:F0} us per clone)");
        return 0;
    }

    private static (string Dir, EmbeddedEngine Engine) Pool(string[] args, bool durable = true)
    {
        var dir = BenchArgs.Scratch(args, "clones");
        var e = new EmbeddedEngine(dir, new EmbeddedEngineOptions { Durable = durable });
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
    private static double Measure(string[] args, int count, int batch, bool durable)
    {
        var (dir, e) = Pool(args, durable);
        try
        {
            var sw = Stopwatch.StartNew();
            var perBatch = new List<double>();
            for (int done = 0; done < count; done += batch)
            {
                var ops = new List<EngineOp>(batch);
                for (int i = done; i < Math.Min(count, done + batch); i++) ops.Add(new EngineOp.CloneSnapshot("p/origin", "s", $"p/c{i}"));
                var t0 = sw.Elapsed;
                foreach (var r in e.Apply(ops)) if (r.Error is not null) throw r.Error;
                perBatch.Add((sw.Elapsed - t0).TotalMicroseconds / ops.Count);
            }
            double total = sw.Elapsed.TotalMicroseconds / count;
            if (perBatch.Count >= 20)
            {
                // Marginal cost: does a clone cost more when thousands exist? Medians resist the shared machine's noise.
                Console.WriteLine($"  {count:N0} clones{(durable ? "" : ", no fsync")}: median per-clone cost of the first 10 batches {Median(perBatch[..10]):F1} us, of the last 10 {Median(perBatch[^10..]):F1} us");
            }
            return total;
        }
        finally
        {
            e.Dispose();
            Directory.Delete(dir, true);
        }
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s[s.Count / 2];
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
