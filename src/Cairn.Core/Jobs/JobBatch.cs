using System.Diagnostics;
using System.Text.Json.Nodes;
using Cairn.Core.State;

namespace Cairn.Core.Jobs;

/// <summary>What one item does in a <see cref="JobBatch{TWork, TResult}"/>: take part in the batch, or settle without it.</summary>
public readonly struct ItemPlan<TWork>
{
    private ItemPlan(bool runs, TWork work, JsonObject? data, JobItem? settled)
    {
        Runs = runs;
        Work = work;
        Data = data;
        Settled = settled;
    }

    /// <summary>Whether the item takes part in the batch.</summary>
    public bool Runs { get; }

    /// <summary>The item's share of the batch.</summary>
    public TWork Work { get; }

    /// <summary>Data to record with the item's mark (null: the item's data as it is).</summary>
    public JsonObject? Data { get; }

    /// <summary>The item as recorded when it does not take part.</summary>
    public JobItem? Settled { get; }

    /// <summary>The item takes part with <paramref name="work"/>; <paramref name="data"/> is recorded with its mark.</summary>
    public static ItemPlan<TWork> Run(TWork work, JsonObject? data = null) => new(true, work, data, null);

    /// <summary>The item is decided without the batch (failed a check, found done, moved on): recorded as <paramref name="item"/>.</summary>
    public static ItemPlan<TWork> Settle(JobItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        return new(false, default!, null, item);
    }
}

/// <summary>An item's outcome in a batch: its share, its result, and when the batch ran.</summary>
public readonly record struct BatchOutcome<TWork, TResult>(JobItem Item, TWork Work, TResult Result, DateTimeOffset Started, double Seconds);

/// <summary>
/// The one way a job does a step over many items: for each chunk, plan every item (take part, or settle now), record
/// the marks durably (<see cref="Mark"/> written as the item's stage), run one batch for the chunk (one engine or store
/// commit), time it, and record every item's outcome durably. After a crash the same step picks up where it stopped:
/// finished items are never planned again, and an item found carrying the mark is planned with <c>resumed</c> set —
/// the batch may have run for it before the crash, so its plan and the batch must treat "already done" as done.
/// </summary>
/// <typeparam name="TWork">An item's share of the batch.</typeparam>
/// <typeparam name="TResult">What the batch returns per share, in order.</typeparam>
public sealed class JobBatch<TWork, TResult>
{
    /// <summary>
    /// The stage recorded on an item before the batch runs for it (<see cref="JobItems.Stage"/>), or null to record no
    /// mark (a batch that is idempotent as a whole and whose items need no step of their own).
    /// </summary>
    public string? Mark { get; init; }

    /// <summary>Decides an item: <c>(item, resumed, ct)</c>, resumed when the item carries <see cref="Mark"/>.</summary>
    public required Func<JobItem, bool, CancellationToken, ValueTask<ItemPlan<TWork>>> Plan { get; init; }

    /// <summary>Runs the batch for the shares of a chunk; returns one result per share, in order.</summary>
    public required Func<IReadOnlyList<TWork>, CancellationToken, Task<IReadOnlyList<TResult>>> Run { get; init; }

    /// <summary>The item as recorded after the batch.</summary>
    public required Func<BatchOutcome<TWork, TResult>, CancellationToken, ValueTask<JobItem>> Outcome { get; init; }

    /// <summary>
    /// Records a set of items durably (marks, outcomes), e.g. with the job counters they change. Null: the items alone
    /// (<see cref="JobContext.UpdateItemsAsync"/>).
    /// </summary>
    public Func<JobContext, IReadOnlyList<JobItem>, Task>? Record { get; init; }

    /// <summary>
    /// Runs the step over every unfinished item of <paramref name="items"/>, <paramref name="chunk"/> at a time.
    /// Returns the seconds it took.
    /// </summary>
    public async Task<double> RunAsync(JobContext ctx, IEnumerable<JobItem> items, int chunk, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        var t0 = Stopwatch.GetTimestamp();
        foreach (var part in items.Where(i => !JobItems.Finished(i)).Chunk(chunk))
        {
            ct.ThrowIfCancellationRequested();
            await RunChunkAsync(ctx, part, ct);
        }
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    /// <summary>Plans, marks, runs, times and records one chunk (its items unfinished, at most one batch's worth).</summary>
    public async Task RunChunkAsync(JobContext ctx, IReadOnlyList<JobItem> chunk, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(chunk);
        var before = new List<JobItem>(chunk.Count);
        var running = new List<(JobItem Item, TWork Work)>(chunk.Count);
        foreach (var item in chunk)
        {
            var resumed = Mark is not null && JobItems.Stage(item) == Mark;
            var plan = await Plan(item, resumed, ct);
            if (!plan.Runs)
            {
                before.Add(plan.Settled!);
                continue;
            }
            var marked = item;
            if (Mark is not null || plan.Data is not null)
            {
                var data = plan.Data ?? JobItems.Data(item);
                if (Mark is not null) data["stage"] = Mark;
                marked = JobItems.With(item, ItemState.Running, data);
                before.Add(marked);
            }
            running.Add((marked, plan.Work));
        }
        if (before.Count > 0) await RecordAsync(ctx, before);
        if (running.Count == 0) return;

        var started = DateTimeOffset.UtcNow;
        var t0 = Stopwatch.GetTimestamp();
        var results = await Run([.. running.Select(r => r.Work)], ct);
        var secs = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        if (results.Count != running.Count)
            throw new InvalidOperationException($"the batch returned {results.Count} results for {running.Count} items");
        var after = new List<JobItem>(running.Count);
        for (int k = 0; k < running.Count; k++)
            after.Add(await Outcome(new BatchOutcome<TWork, TResult>(running[k].Item, running[k].Work, results[k], started, secs), ct));
        await RecordAsync(ctx, after);
    }

    private Task RecordAsync(JobContext ctx, IReadOnlyList<JobItem> batch) =>
        Record is { } record ? record(ctx, batch) : ctx.UpdateItemsAsync(batch);
}
