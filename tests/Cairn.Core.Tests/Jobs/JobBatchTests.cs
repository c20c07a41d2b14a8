using System.Collections.Concurrent;
using Cairn.Core.Jobs;
using Cairn.Core.State;

namespace Cairn.Core.Tests.Jobs;

/// <summary>
/// The job batch helper: marks are durable before the batch runs, outcomes after it, and a process that dies inside a
/// batch leaves a job that the next process finishes without redoing or losing an item.
/// </summary>
public sealed class JobBatchTests : JobTestBase
{
    private const string Mark = "working";

    /// <summary>A step whose batch "applies" each item's key once (a retry of an applied key counts as done).</summary>
    private static JobBatch<string, string> Step(ConcurrentDictionary<string, int> applied, ConcurrentDictionary<int, bool> plannedResumed,
        Func<IReadOnlyList<string>, Task>? afterApply = null) => new()
    {
        Mark = Mark,
        Plan = (item, resumed, _) =>
        {
            plannedResumed[item.Index] = resumed;
            return ValueTask.FromResult(ItemPlan<string>.Run(item.Key));
        },
        Run = async (keys, _) =>
        {
            var results = keys.Select(k => applied.TryAdd(k, 1) ? "applied" : "already").ToList();
            if (afterApply is not null) await afterApply(keys);
            return results;
        },
        Outcome = (o, _) =>
        {
            var data = JobItems.Data(o.Item);
            data.Remove("stage");
            data["result"] = o.Result;
            return ValueTask.FromResult(JobItems.With(o.Item, ItemState.Done, data));
        },
    };

    [Fact]
    public async Task A_process_killed_inside_a_batch_resumes_with_the_marked_items_flagged_and_finished_items_left_alone()
    {
        var applied = new ConcurrentDictionary<string, int>();
        var firstPlans = new ConcurrentDictionary<int, bool>();
        var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // First process: the first chunk (a, b) completes; the second (c, d) is applied by the engine, then the process
        // "dies" before the outcome is recorded.
        var first = await StartEngine(null, new TestHandler("b", (ctx, ct) =>
            Step(applied, firstPlans, async keys =>
            {
                if (!keys.Contains("c")) return;
                hung.SetResult();
                await new TaskCompletionSource().Task; // never completes, ignores cancellation: a crash, not a stop
            }).RunAsync(ctx, ctx.Items, chunk: 2, ct)));
        var submitted = await first.SubmitAsync("b", Request(), ["a", "b", "c", "d", "e", "f"], ct: Ct);
        await hung.Task.WaitAsync(Timeout, Ct);
        Abandon(first);
        Store.Dispose();

        // What the dead process left on disk: a and b done, c and d marked, e and f untouched.
        using (var left = new Cairn.Store.SqliteStateStore(DbPath))
        {
            var items = left.ListJobItems(submitted.Id).ToDictionary(i => i.Key);
            Assert.All(new[] { "a", "b" }, k => Assert.Equal(ItemState.Done, items[k].State));
            Assert.All(new[] { "c", "d" }, k =>
            {
                Assert.Equal(ItemState.Running, items[k].State);
                Assert.Equal(Mark, JobItems.Stage(items[k]));
            });
            Assert.All(new[] { "e", "f" }, k => Assert.Equal(ItemState.Pending, items[k].State));
        }

        // Second process over the same file.
        Store = OpenStore();
        var secondPlans = new ConcurrentDictionary<int, bool>();
        var second = await StartEngine(null, new TestHandler("b", (ctx, ct) => Step(applied, secondPlans).RunAsync(ctx, ctx.Items, chunk: 2, ct)));
        var job = await Finished(second, submitted.Id);

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal([2, 3, 4, 5], secondPlans.Keys.Order()); // finished items are never planned again
        Assert.True(secondPlans[2] && secondPlans[3]);          // the marked ones are known to be resumed…
        Assert.False(secondPlans[4] || secondPlans[5]);         // …the untouched ones are not
        Assert.Equal(["a", "b", "c", "d", "e", "f"], applied.Keys.Order()); // each applied exactly once
        var final = Store.ListJobItems(submitted.Id).ToDictionary(i => i.Key);
        Assert.All(final.Values, i => Assert.Equal(ItemState.Done, i.State));
        Assert.All(final.Values, i => Assert.Null(JobItems.Stage(i)));
        Assert.Equal("already", (string?)final["c"].Data?["result"]); // the batch the crash interrupted counts as done
        Assert.Equal("applied", (string?)final["e"].Data?["result"]);
    }

    [Fact]
    public async Task Settled_items_are_recorded_without_the_batch_and_the_batch_gets_only_the_rest()
    {
        var batches = new ConcurrentBag<string[]>();
        var step = new JobBatch<string, bool>
        {
            Plan = (item, _, _) => ValueTask.FromResult(item.Index % 2 == 1
                ? ItemPlan<string>.Settle(JobItems.With(item, ItemState.Failed, JobItems.Data(item), "refused before the batch"))
                : ItemPlan<string>.Run(item.Key)),
            Run = (keys, _) =>
            {
                batches.Add([.. keys]);
                return Task.FromResult<IReadOnlyList<bool>>([.. keys.Select(_ => true)]);
            },
            Outcome = (o, _) => ValueTask.FromResult(JobItems.With(o.Item, ItemState.Done, JobItems.Data(o.Item))),
        };
        var engine = await StartEngine(null, new TestHandler("s", (ctx, ct) => step.RunAsync(ctx, ctx.Items, chunk: 4, ct)));
        var job = await engine.SubmitAsync("s", Request(), ["a", "b", "c", "d", "e"], ct: Ct);
        var done = await Finished(engine, job.Id);

        Assert.Equal(JobState.Failed, done.State); // failed items fail the job, with a summary
        Assert.Equal(["a", "c", "e"], batches.SelectMany(b => b).Order());
        var items = Store.ListJobItems(job.Id).ToDictionary(i => i.Key);
        Assert.Equal("refused before the batch", items["b"].Error);
        Assert.Equal(ItemState.Failed, items["d"].State);
        Assert.All(new[] { "a", "c", "e" }, k => Assert.Equal(ItemState.Done, items[k].State));
    }
}
