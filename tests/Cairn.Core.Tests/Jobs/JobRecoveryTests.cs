using System.Collections.Concurrent;
using Cairn.Core.Jobs;
using Cairn.Core.State;

namespace Cairn.Core.Tests.Jobs;

/// <summary>What happens to jobs a previous process left behind: none stays running forever.</summary>
public sealed class JobRecoveryTests : JobTestBase
{
    private static JobRecord Left(JobState state, int attempts, string type = "t") => new(
        Guid.NewGuid(), type, state, "start_creating_clones", 0.3, DateTimeOffset.UtcNow.AddMinutes(-1),
        state == JobState.Running ? DateTimeOffset.UtcNow.AddSeconds(-50) : null, null, null, Request(), null,
        [new JobStep("clones", ItemState.Done, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow), new JobStep("targets", ItemState.Running, DateTimeOffset.UtcNow, null)],
        attempts);

    private async Task<JobRecord> Write(JobRecord job, int items = 2)
    {
        await Store.WriteAsync(w =>
        {
            w.Put(job);
            for (var i = 0; i < items; i++) w.Put(new JobItem(job.Id, i, "k" + i, i == 0 ? ItemState.Done : ItemState.Pending, null, null, null));
        }, Ct);
        return job;
    }

    [Fact]
    public async Task A_job_running_when_the_process_died_resumes_with_IsResume_skipping_done_steps_and_items()
    {
        // First process: step "clones" and items 0-1 complete, then it hangs in step "targets" and "dies".
        var processed = new ConcurrentBag<string>();
        var stepRuns = new ConcurrentBag<string>();
        var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task Work(JobContext ctx, bool hang)
        {
            await ctx.RunStepAsync("clones", async _ =>
            {
                stepRuns.Add("clones");
                var todo = ctx.Items.Where(i => i.State != ItemState.Done).Take(hang ? 2 : int.MaxValue).ToArray();
                foreach (var i in todo) processed.Add(i.Key);
                await ctx.UpdateItemsAsync(todo.Select(i => i with { State = ItemState.Done }));
                if (hang)
                {
                    hung.SetResult();
                    await new TaskCompletionSource().Task; // never completes, ignores cancellation: a crash, not a stop
                }
            });
            await ctx.RunStepAsync("targets", _ =>
            {
                stepRuns.Add("targets");
                return Task.CompletedTask;
            });
        }
        var first = await StartEngine(null, new TestHandler("t", (ctx, _) => Work(ctx, hang: true)));
        var submitted = await first.SubmitAsync("t", Request(), ["a", "b", "c", "d"], ct: Ct);
        await hung.Task.WaitAsync(Timeout, Ct);
        Abandon(first);
        Store.Dispose();
        using (var reader = new Cairn.Store.SqliteStateStore(DbPath))
            Assert.Equal(JobState.Running, reader.GetJob(submitted.Id)!.State);

        // Second process over the same file.
        Store = OpenStore();
        bool? isResume = null;
        var second = await StartEngine(null, new TestHandler("t", async (ctx, ct) =>
        {
            isResume = ctx.IsResume;
            await Work(ctx, hang: false);
        }));
        var job = await Finished(second, submitted.Id);

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.True(isResume);
        Assert.Equal(2, job.Attempts);
        Assert.Equal(["a", "b", "c", "d"], processed.Order()); // each item exactly once
        Assert.Contains(second.Logs(job.Id), l => l.Message.StartsWith("interrupted by restart; resuming", StringComparison.Ordinal));
        Assert.All(job.Steps, s => Assert.Equal(ItemState.Done, s.State));
        Assert.Equal(["clones", "clones", "targets"], stepRuns.Order()); // "clones" ran in both attempts because it never finished in the first
    }

    [Fact]
    public async Task A_step_done_before_the_crash_is_skipped_on_resume()
    {
        var job = await Write(Left(JobState.Running, attempts: 1));
        var ran = new ConcurrentBag<string>();
        var engine = await StartEngine(null, new TestHandler("t", async (ctx, ct) =>
        {
            Assert.True(ctx.IsResume);
            await ctx.RunStepAsync("clones", _ => { ran.Add("clones"); return Task.CompletedTask; });
            await ctx.RunStepAsync("targets", _ => { ran.Add("targets"); return Task.CompletedTask; });
        }));
        var done = await Finished(engine, job.Id);
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal(["targets"], ran);
        Assert.Equal(2, done.Attempts);
        Assert.Equal(job.Started, done.Started); // lag time is measured from the first start
    }

    [Fact]
    public async Task A_running_job_without_a_registered_handler_is_failed_with_a_reason_at_start()
    {
        var job = await Write(Left(JobState.Running, attempts: 1, type: "retired"));
        var engine = await StartEngine(null);
        var failed = Store.GetJob(job.Id)!;

        Assert.Equal(JobState.Failed, failed.State);
        Assert.Equal("interrupted by restart; no handler registered for job type 'retired'", failed.Error);
        Assert.NotNull(failed.Finished);
        Assert.Equal([ItemState.Done, ItemState.Skipped], Store.ListJobItems(job.Id).Select(i => i.State));
        Assert.Equal(JobState.Failed, (await Finished(engine, job.Id)).State);
    }

    [Fact]
    public async Task A_running_job_that_used_all_its_attempts_is_failed_with_a_reason_not_resumed()
    {
        var job = await Write(Left(JobState.Running, attempts: 3));
        var ran = 0;
        var engine = await StartEngine(new JobEngineOptions { MaxAttempts = 3 }, new TestHandler("t", (_, _) =>
        {
            Interlocked.Increment(ref ran);
            return Task.CompletedTask;
        }));
        var failed = await Finished(engine, job.Id);

        Assert.Equal(JobState.Failed, failed.State);
        Assert.Equal("interrupted by restart; gave up after 3 attempts", failed.Error);
        Assert.Equal(0, ran);
    }

    [Fact]
    public async Task A_running_job_whose_cancel_was_requested_before_the_crash_ends_cancelled_not_resumed()
    {
        var job = await Write(Left(JobState.Running, attempts: 1) with { CancelRequested = true });
        var ran = 0;
        var engine = await StartEngine(null, new TestHandler("t", (_, _) =>
        {
            Interlocked.Increment(ref ran);
            return Task.CompletedTask;
        }));
        var done = await Finished(engine, job.Id);
        Assert.Equal(JobState.Cancelled, done.State);
        Assert.Equal(0, ran);
    }

    [Fact]
    public async Task A_pending_job_left_by_a_previous_process_starts()
    {
        var job = await Write(Left(JobState.Pending, attempts: 0) with { Steps = [] });
        var engine = await StartEngine(null, new TestHandler("t", (ctx, _) =>
        {
            Assert.False(ctx.IsResume);
            return Task.CompletedTask;
        }));
        var done = await Finished(engine, job.Id);
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal(1, done.Attempts);
    }

    [Fact]
    public async Task A_graceful_stop_leaves_the_job_pending_and_the_next_start_resumes_it()
    {
        var inSecondStep = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ran = new ConcurrentBag<string>();
        var first = await StartEngine(null, new TestHandler("t", async (ctx, ct) =>
        {
            await ctx.RunStepAsync("one", _ => { ran.Add("one"); return Task.CompletedTask; });
            await ctx.RunStepAsync("two", async token =>
            {
                inSecondStep.SetResult();
                await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, token);
            });
        }));
        var submitted = await first.SubmitAsync("t", Request(), ct: Ct);
        await inSecondStep.Task.WaitAsync(Timeout, Ct);
        await first.StopAsync(Ct);

        var stopped = Store.GetJob(submitted.Id)!;
        Assert.Equal(JobState.Pending, stopped.State);
        Assert.Contains(Store.ListJobLogs(submitted.Id), l => l.Message.StartsWith("interrupted by shutdown", StringComparison.Ordinal));

        bool? isResume = null;
        var second = await StartEngine(null, new TestHandler("t", async (ctx, ct) =>
        {
            isResume = ctx.IsResume;
            await ctx.RunStepAsync("one", _ => { ran.Add("one"); return Task.CompletedTask; });
            await ctx.RunStepAsync("two", _ => { ran.Add("two"); return Task.CompletedTask; });
        }));
        var done = await Finished(second, submitted.Id);
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.True(isResume);
        Assert.Equal(["one", "two"], ran.Order());
    }
}
