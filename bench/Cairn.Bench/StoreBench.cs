using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Cairn.Core.Jobs;
using Cairn.Core.State;
using Cairn.Store;

namespace Cairn.Bench;

/// <summary>
/// State store and job engine overhead (docs/benchmarks.md, "State store and jobs"): a SQLite store in a scratch
/// directory, handlers that do no engine work, so every millisecond is store and engine overhead. Commit counts are the
/// stable figure; time is roughly commits times one commit's latency, which is printed first.
/// </summary>
internal static class StoreBench
{
    private const int ItemCount = 1000;
    private const int Batch = 100;

    public static int Run(string[] args) => RunAsync(args).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(string[] args)
    {
        var dir = BenchArgs.Scratch(args, "store");
        try
        {
            await JobOverhead(Path.Combine(dir, "jobs.db"));
            await StatusReads(Path.Combine(dir, "reads.db"));
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class Handler(string type, Func<JobContext, CancellationToken, Task> run) : IJobHandler
    {
        public string Type { get; } = type;

        public Task RunAsync(JobContext ctx, CancellationToken ct) => run(ctx, ct);
    }

    private static string Ms(double ms) => ms.ToString("0.00", CultureInfo.InvariantCulture) + " ms";

    private static double Percentile(IEnumerable<double> xs, double p)
    {
        var sorted = xs.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Max(0, Math.Ceiling(p * sorted.Length) - 1))];
    }

    // The shape of a LUN clone create job with no engine work: every phase, step, counter and item result is recorded.
    private static async Task LunShapedJob(JobContext ctx, CancellationToken ct)
    {
        await ctx.SetPhaseAsync("start_job");
        foreach (var (step, counter) in new[] { ("clones", "num_clones"), ("targets", "num_targets") })
        {
            await ctx.SetPhaseAsync($"start_creating_{step}");
            await ctx.RunStepAsync(step, async _ =>
            {
                foreach (var batch in ctx.Items.Chunk(Batch))
                {
                    var now = DateTimeOffset.UtcNow;
                    await ctx.UpdateItemsAsync(
                        batch.Select(i => i with { State = step == "targets" ? ItemState.Done : ItemState.Running, Started = i.Started ?? now, Finished = now }),
                        d => d[counter] = ((int?)d[counter] ?? 0) + batch.Length);
                }
            });
            await ctx.SetPhaseAsync($"done_creating_{step}");
        }
        await ctx.SetPhaseAsync("complete");
    }

    // Item work done by 8 concurrent workers, each recording its own item's result as soon as it is done (no manual
    // batching): the context coalesces the updates and the store commits them in groups.
    private static async Task ConcurrentWorkersJob(JobContext ctx, CancellationToken ct)
    {
        await ctx.SetPhaseAsync("start_creating_clones");
        await Parallel.ForEachAsync(ctx.Items, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (item, _) =>
        {
            var now = DateTimeOffset.UtcNow;
            await ctx.UpdateItemsAsync([item with { State = ItemState.Done, Started = now, Finished = now }], d => d["num_clones"] = ((int?)d["num_clones"] ?? 0) + 1);
        });
        await ctx.SetPhaseAsync("complete");
    }

    // The same with results posted (PostItems) and one FlushAsync before the phase that depends on them.
    private static async Task PostingWorkersJob(JobContext ctx, CancellationToken ct)
    {
        await ctx.SetPhaseAsync("start_creating_clones");
        await Parallel.ForEachAsync(ctx.Items, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (item, _) =>
        {
            await Task.Yield();
            var now = DateTimeOffset.UtcNow;
            ctx.PostItems([item with { State = ItemState.Done, Started = now, Finished = now }], d => d["num_clones"] = ((int?)d["num_clones"] ?? 0) + 1);
        });
        await ctx.FlushAsync();
        await ctx.SetPhaseAsync("complete");
    }

    private static async Task<JobRecord> Finished(JobEngine engine, Guid id)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        return await engine.WaitAsync(id, cts.Token);
    }

    private static async Task JobOverhead(string dbPath)
    {
        using var store = new SqliteStateStore(dbPath);
        await using var engine = new JobEngine(store, [new Handler("lun", LunShapedJob), new Handler("workers", ConcurrentWorkersJob), new Handler("posting", PostingWorkersJob)], null);
        await engine.StartAsync(CancellationToken.None);
        try
        {
            var keys = Enumerable.Range(0, ItemCount).Select(i => $"pool/clones/c{i}").ToArray();
            // A request as big as a real 1,000-clone LUN request, and conflict keys on every dst and wwn.
            var request = new JsonObject
            {
                ["clones"] = new JsonArray(keys.Select((k, i) => (JsonNode)new JsonObject
                {
                    ["src"] = "pool/golden@v1",
                    ["dst"] = k,
                    ["wwn"] = $"iqn.2026-11.org.example:node{i}",
                    ["initiators"] = new JsonArray($"iqn.1993-08.org.debian:01:node{i}"),
                }).ToArray()),
            };
            var conflictKeys = keys.Concat(keys.Select((_, i) => $"iqn.2026-11.org.example:node{i}")).ToArray();
            Console.WriteLine($"store: request {request.ToJsonString().Length / 1024} KiB of JSON; {conflictKeys.Length} conflict keys");
            var probes = new List<double>();
            for (var i = 0; i < 40; i++)
            {
                var sw = Stopwatch.StartNew();
                await store.WriteAsync(w => w.AppendLog(Guid.Empty, "info", "probe"), CancellationToken.None);
                probes.Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"store: durable commit of one row (SQLite WAL, synchronous=FULL), p50 in this run = {Ms(Percentile(probes, 0.5))}");
            foreach (var type in new[] { "lun", "workers", "posting" })
            {
                var runs = new List<(double Submit, double Job, double Total, long Commits, long Sets)>();
                for (var run = 0; run < 5; run++)
                {
                    var (c0, s0) = (store.Commits, store.ChangeSets);
                    var sw = Stopwatch.StartNew();
                    var submitted = await engine.SubmitAsync(type, request, keys, "pending", conflictKeys, CancellationToken.None);
                    var submit = sw.Elapsed.TotalMilliseconds;
                    var job = await Finished(engine, submitted.Id);
                    var total = sw.Elapsed.TotalMilliseconds;
                    if (job.State != JobState.Succeeded) throw new InvalidOperationException($"{type} job ended {job.State}");
                    runs.Add((submit, (job.Finished!.Value - job.Started!.Value).TotalMilliseconds, total, store.Commits - c0, store.ChangeSets - s0));
                }
                var m = runs.Skip(1).OrderBy(r => r.Total).ElementAt(2); // median of the 4 runs after a warm-up run
                Console.WriteLine(type switch
                {
                    "lun" => $"store: 1,000-item job, LUN-clone shaped (8 phases, 2 steps, items recorded twice in batches of {Batch}, every change awaited durable):",
                    "workers" => "store: 1,000-item job, 8 concurrent workers each awaiting its own item's result (UpdateItemsAsync, no manual batching):",
                    _ => "store: 1,000-item job, 8 concurrent workers each posting its own item's result (PostItems), one FlushAsync at the end:",
                });
                Console.WriteLine($"  submit (job + 1,000 items durable) = {Ms(m.Submit)}");
                Console.WriteLine($"  job_time (start -> finish; the handler only records status) = {Ms(m.Job)}");
                Console.WriteLine($"  submit -> WaitAsync returns = {Ms(m.Total)}; {m.Sets} change sets in {m.Commits} commits");
            }
        }
        finally
        {
            await engine.StopAsync(CancellationToken.None);
        }
    }

    private static async Task StatusReads(string dbPath)
    {
        using var store = new SqliteStateStore(dbPath);
        long commits = 0;
        await using var engine = new JobEngine(store, [new Handler("writer", async (ctx, ct) =>
        {
            while (!ct.IsCancellationRequested)
            {
                foreach (var batch in ctx.Items.Chunk(50))
                {
                    await ctx.UpdateItemsAsync(batch.Select(i => i with { State = ItemState.Running, Started = DateTimeOffset.UtcNow }),
                        d => d["n"] = ((int?)d["n"] ?? 0) + 1);
                    Interlocked.Increment(ref commits);
                }
            }
        })], null);
        await engine.StartAsync(CancellationToken.None);
        try
        {
            var keys = Enumerable.Range(0, ItemCount).Select(i => "k" + i).ToArray();
            var writers = new List<Guid>();
            for (var i = 0; i < 2; i++) writers.Add((await engine.SubmitAsync("writer", new JsonObject { ["n"] = i }, keys, ct: CancellationToken.None)).Id);
            var target = writers[0];
            while (store.GetJob(target)?.State != JobState.Running) await Task.Delay(10);

            const int Rate = 200;
            var duration = TimeSpan.FromSeconds(3);
            var record = new List<double>();
            var withItems = new List<double>();
            var clock = Stopwatch.StartNew();
            var startCommits = Interlocked.Read(ref commits);
            for (var n = 0; clock.Elapsed < duration; n++)
            {
                var due = TimeSpan.FromSeconds((double)n / Rate);
                if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
                var t0 = clock.Elapsed;
                _ = engine.Get(target) ?? throw new InvalidOperationException("job record missing");
                var t1 = clock.Elapsed;
                record.Add((t1 - t0).TotalMilliseconds);
                if (n % 10 == 0)
                {
                    if (engine.Items(target).Count != ItemCount) throw new InvalidOperationException("items missing");
                    withItems.Add((clock.Elapsed - t1).TotalMilliseconds);
                }
            }
            var writesPerSecond = (Interlocked.Read(ref commits) - startCommits) / clock.Elapsed.TotalSeconds;
            foreach (var id in writers) await engine.CancelAsync(id, CancellationToken.None);
            foreach (var id in writers) await Finished(engine, id);
            Console.WriteLine($"store: status reads at {Rate}/s for {duration.TotalSeconds:0} s while 2 jobs commit item batches ({writesPerSecond:0} durable writes/s):");
            Console.WriteLine($"  job record (GetJob, {record.Count} reads): p50 {Ms(Percentile(record, 0.5))}, p99 {Ms(Percentile(record, 0.99))}, max {Ms(record.Max())}");
            Console.WriteLine($"  job record + 1,000 items (every 10th read, {withItems.Count} reads): p50 {Ms(Percentile(withItems, 0.5))}, p99 {Ms(Percentile(withItems, 0.99))}, max {Ms(withItems.Max())}");
        }
        finally
        {
            await engine.StopAsync(CancellationToken.None);
        }
    }
}
