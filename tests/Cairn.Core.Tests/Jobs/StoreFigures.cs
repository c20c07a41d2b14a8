using System.Diagnostics;
using System.Globalization;
using Cairn.Core.Jobs;
using Cairn.Core.State;

namespace Cairn.Core.Tests.Jobs;

/// <summary>
/// Figures for docs/benchmarks.md ("State store and jobs"). They print, they do not assert timings:
/// <c>dotnet test tests/Cairn.Core.Tests --filter "FullyQualifiedName~StoreFigures" --logger "console;verbosity=detailed"</c>
/// </summary>
public sealed class StoreFigures : JobTestBase
{
    private const int ItemCount = 1000;
    private const int Batch = 100;

    private static void Print(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    private static string Ms(double ms) => ms.ToString("0.00", CultureInfo.InvariantCulture) + " ms";

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

    private static double Percentile(IEnumerable<double> xs, double p)
    {
        var sorted = xs.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Max(0, Math.Ceiling(p * sorted.Length) - 1))];
    }

    /// <summary>Latency of one durable commit of one small row on this disk right now: the unit of store overhead.</summary>
    private async Task<double> DurableCommitP50()
    {
        var xs = new List<double>();
        for (var i = 0; i < 40; i++)
        {
            var sw = Stopwatch.StartNew();
            await Store.WriteAsync(w => w.AppendLog(Guid.Empty, "info", "probe"), Ct);
            xs.Add(sw.Elapsed.TotalMilliseconds);
        }
        return Percentile(xs, 0.5);
    }

    [Fact]
    public async Task Store_overhead_of_a_1000_item_job()
    {
        var store = (Cairn.Store.SqliteStateStore)Store;
        var engine = await StartEngine(null, new TestHandler("lun", LunShapedJob), new TestHandler("workers", ConcurrentWorkersJob), new TestHandler("posting", PostingWorkersJob));
        var keys = Enumerable.Range(0, ItemCount).Select(i => $"pool/clones/c{i}").ToArray();
        // A request as big as a real 1,000-clone LUN request, and conflict keys on every dst and wwn.
        var request = new System.Text.Json.Nodes.JsonObject
        {
            ["clones"] = new System.Text.Json.Nodes.JsonArray(keys.Select((k, i) => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
            {
                ["src"] = "pool/golden@v1",
                ["dst"] = k,
                ["wwn"] = $"iqn.2026-11.org.example:node{i}",
                ["initiators"] = new System.Text.Json.Nodes.JsonArray($"iqn.1993-08.org.debian:01:node{i}"),
            }).ToArray()),
        };
        var conflictKeys = keys.Concat(keys.Select((_, i) => $"iqn.2026-11.org.example:node{i}")).ToArray();
        Print($"Request: {request.ToJsonString().Length / 1024} KiB of JSON; {conflictKeys.Length} conflict keys.");
        var commit = await DurableCommitP50();
        Print($"Durable commit of one row (SQLite WAL, synchronous=FULL), p50 in this run: {Ms(commit)}");
        foreach (var type in new[] { "lun", "workers", "posting" })
        {
            var runs = new List<(double Submit, double Job, double Total, long Commits, long Sets)>();
            for (var run = 0; run < 5; run++)
            {
                var (c0, s0) = (store.Commits, store.ChangeSets);
                var sw = Stopwatch.StartNew();
                var submitted = await engine.SubmitAsync(type, request, keys, "pending", conflictKeys, Ct);
                var submit = sw.Elapsed.TotalMilliseconds;
                var job = await Finished(engine, submitted.Id);
                var total = sw.Elapsed.TotalMilliseconds;
                Assert.Equal(JobState.Succeeded, job.State);
                runs.Add((submit, (job.Finished!.Value - job.Started!.Value).TotalMilliseconds, total, store.Commits - c0, store.ChangeSets - s0));
            }
            var m = runs.Skip(1).OrderBy(r => r.Total).ElementAt(2); // median of the 4 runs after a warm-up run
            Print(type switch
            {
                "lun" => $"1,000-item job, LUN-clone shaped: 8 phases, 2 steps, items recorded twice in batches of {Batch}, every change awaited durable:",
                "workers" => "1,000-item job, 8 concurrent workers each awaiting its own item's result (UpdateItemsAsync, no manual batching):",
                _ => "1,000-item job, 8 concurrent workers each posting its own item's result (PostItems), one FlushAsync at the end:",
            });
            Print($"  submit (job + 1,000 items durable): {Ms(m.Submit)}");
            Print($"  job_time (start -> finish; the handler does nothing but record status): {Ms(m.Job)}");
            Print($"  submit -> WaitAsync returns: {Ms(m.Total)}; {m.Sets} change sets in {m.Commits} commits");
        }
    }

    [Fact]
    public async Task Status_read_latency_while_jobs_write()
    {
        long commits = 0;
        var engine = await StartEngine(null, new TestHandler("writer", async (ctx, ct) =>
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
        }));
        var keys = Enumerable.Range(0, ItemCount).Select(i => "k" + i).ToArray();
        var writers = new List<Guid>();
        for (var i = 0; i < 2; i++) writers.Add((await engine.SubmitAsync("writer", Request(i), keys, ct: Ct)).Id);
        var target = writers[0];
        await Until(target, j => j.State == JobState.Running);

        const int Rate = 200;
        var duration = TimeSpan.FromSeconds(3);
        var record = new List<double>();
        var withItems = new List<double>();
        var clock = Stopwatch.StartNew();
        var startCommits = Interlocked.Read(ref commits);
        for (var n = 0; clock.Elapsed < duration; n++)
        {
            var due = TimeSpan.FromSeconds((double)n / Rate);
            if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed, Ct);
            var t0 = clock.Elapsed;
            Assert.NotNull(engine.Get(target));
            var t1 = clock.Elapsed;
            record.Add((t1 - t0).TotalMilliseconds);
            if (n % 10 == 0)
            {
                Assert.Equal(ItemCount, engine.Items(target).Count);
                withItems.Add((clock.Elapsed - t1).TotalMilliseconds);
            }
        }
        var writesPerSecond = (Interlocked.Read(ref commits) - startCommits) / clock.Elapsed.TotalSeconds;
        foreach (var id in writers) await engine.CancelAsync(id, Ct);
        foreach (var id in writers) await Finished(engine, id);

        static double P(List<double> xs, double p) => Percentile(xs, p);
        Print($"Status reads at {Rate}/s for {duration.TotalSeconds:0} s while 2 jobs commit item batches ({writesPerSecond:0} durable writes/s):");
        Print($"  job record (GetJob, {record.Count} reads): p50 {Ms(P(record, 0.5))}, p99 {Ms(P(record, 0.99))}, max {Ms(record.Max())}");
        Print($"  job record + 1,000 items (every 10th read, {withItems.Count} reads): p50 {Ms(P(withItems, 0.5))}, p99 {Ms(P(withItems, 0.99))}, max {Ms(withItems.Max())}");
    }
}
