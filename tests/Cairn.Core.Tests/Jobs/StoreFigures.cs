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

    [Fact]
    public async Task Store_overhead_of_a_1000_item_job()
    {
        var engine = await StartEngine(null, new TestHandler("lun", LunShapedJob));
        var keys = Enumerable.Range(0, ItemCount).Select(i => $"pool/clones/c{i}").ToArray();
        var runs = new List<(double Submit, double Job, double Total)>();
        for (var run = 0; run < 5; run++)
        {
            var sw = Stopwatch.StartNew();
            var submitted = await engine.SubmitAsync("lun", Request(run), keys, "pending", ct: Ct);
            var submit = sw.Elapsed.TotalMilliseconds;
            var job = await Finished(engine, submitted.Id);
            var total = sw.Elapsed.TotalMilliseconds;
            Assert.Equal(JobState.Succeeded, job.State);
            runs.Add((submit, (job.Finished!.Value - job.Started!.Value).TotalMilliseconds, total));
        }
        var median = runs.Skip(1).OrderBy(r => r.Total).ElementAt(2); // first run warms up
        var commits = 1 /* start */ + 6 /* phases */ + 2 * 2 /* steps */ + 2 * (ItemCount / Batch) + 1 /* finish */;
        Print($"1,000-item job, items in batches of {Batch}, ~{commits} durable writes (median of 4 after warm-up):");
        Print($"  submit (job + 1,000 items durable): {Ms(median.Submit)}");
        Print($"  job_time (start -> finish, all store work): {Ms(median.Job)}");
        Print($"  submit -> WaitAsync returns: {Ms(median.Total)}");
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

        static double P(List<double> xs, double p) => xs.Order().ElementAt((int)Math.Min(xs.Count - 1, Math.Ceiling(p * xs.Count) - 1));
        Print($"Status reads at {Rate}/s for {duration.TotalSeconds:0} s while 2 jobs commit item batches ({writesPerSecond:0} durable writes/s):");
        Print($"  job record (GetJob, {record.Count} reads): p50 {Ms(P(record, 0.5))}, p99 {Ms(P(record, 0.99))}, max {Ms(record.Max())}");
        Print($"  job record + 1,000 items (every 10th read, {withItems.Count} reads): p50 {Ms(P(withItems, 0.5))}, p99 {Ms(P(withItems, 0.99))}, max {Ms(withItems.Max())}");
    }
}
