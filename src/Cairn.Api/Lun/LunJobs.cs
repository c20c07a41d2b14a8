using System.Diagnostics;
using System.Text.Json.Nodes;
using Cairn.Core.Jobs;
using Cairn.Core.State;

namespace Cairn.Api.Lun;

/// <summary>Names and helpers shared by the LUN create and delete jobs.</summary>
internal static class LunJobs
{
    public const string CreateType = "lun.create";
    public const string DeleteType = "lun.delete";

    /// <summary>Items per engine/store commit: big enough that 1,000 items take a handful of commits.</summary>
    public const int Chunk = 250;

    // Item stages (JobItem.Data["stage"]), persisted so a resumed job knows how far each item got.
    public const string Cloning = "cloning";
    public const string Cloned = "cloned";
    public const string DeletingTarget = "deleting_target";
    public const string TargetDeleted = "target_deleted";
    public const string DeletingClone = "deleting_clone";

    public static string? Stage(JobItem i) => (string?)i.Data?["stage"];

    public static bool Finished(JobItem i) => i.State is ItemState.Done or ItemState.Failed or ItemState.Skipped;

    public static JsonObject Data(JobItem i) => (JsonObject?)i.Data?.DeepClone() ?? [];

    /// <summary>An item with a new state and data; Started kept from the first attempt.</summary>
    public static JobItem With(JobItem i, ItemState state, JsonObject data, string? error = null)
    {
        var now = DateTimeOffset.UtcNow;
        var finished = state is ItemState.Done or ItemState.Failed ? now : (DateTimeOffset?)null;
        return i with { State = state, Data = data, Error = error ?? (state == ItemState.Failed ? i.Error : null), Started = i.Started ?? now, Finished = finished };
    }

    /// <summary>Adds <paramref name="seconds"/> to a timing field of the job data (phases re-run after a crash add up).</summary>
    public static void AddTime(JsonObject d, string field, double seconds) => d[field] = ((double?)d[field] ?? 0) + seconds;

    public static double Seconds(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;

    /// <summary>Sets the counters from the items themselves, so a resumed job never counts an item twice.</summary>
    public static void Count(JsonObject d, IReadOnlyList<JobItem> items, bool create)
    {
        int clones = 0, targets = 0, completed = 0, clonesAsked = 0;
        foreach (var i in items)
        {
            var stage = Stage(i);
            if (Finished(i)) completed++;
            if (create)
            {
                if (i.State == ItemState.Done) { clones++; targets++; }
                else if (stage == Cloned) clones++;
            }
            else
            {
                var del = (bool?)i.Data?["delete_clones"] ?? false;
                if (del) clonesAsked++;
                if ((bool?)i.Data?["target_gone"] == true) targets++;
                if ((bool?)i.Data?["clone_gone"] == true) clones++;
            }
        }
        d["num_requested"] = items.Count;
        d["num_clones"] = clones;
        d["num_targets"] = targets;
        d["num_completed"] = completed;
        // The original's formula for a create: each item is half clone, half target.
        d["percent_completed"] = items.Count == 0 ? 1.0
            : create ? Math.Min(1.0, (clones + targets) * 0.5 / items.Count)
            : Math.Min(1.0, (double)(targets + clones) / (items.Count + clonesAsked));
    }

    /// <summary>
    /// Records a batch of item results together with the counters they change, in one store write (the counters are
    /// recomputed from the items, so they always agree with them).
    /// </summary>
    public static async Task Record(JobContext ctx, LunStatus status, IReadOnlyList<JobItem> batch, bool create, Action<JsonObject>? more = null)
    {
        var all = ctx.Items.ToDictionary(i => i.Index);
        foreach (var b in batch) all[b.Index] = b;
        var counters = new JsonObject();
        Count(counters, [.. all.Values], create);
        var data = ctx.Job.Data;
        if (more is null && data is not null && counters.All(c => JsonNode.DeepEquals(c.Value, data[c.Key])))
        {
            // Only item marks (stages before a step): no need to rewrite the job record.
            await ctx.UpdateItemsAsync(batch);
            return;
        }
        await ctx.UpdateItemsAsync(batch, d =>
        {
            more?.Invoke(d);
            foreach (var (k, v) in counters) d[k] = v?.DeepClone();
        }, progress: (double)counters["percent_completed"]!);
        status.Changed(ctx);
    }

    /// <summary>Records the job's status word (the original's phase names) and tells the status cache.</summary>
    public static async Task Phase(JobContext ctx, LunStatus status, string phase)
    {
        await ctx.SetPhaseAsync(phase);
        status.Changed(ctx);
    }

    /// <summary>Items per engine/store commit: 250, more for big jobs so a job takes a bounded number of commits
    /// (each commit also rewrites the job record, whose request grows with the job).</summary>
    public static int ChunkFor(int items) => Math.Clamp(items / 4, Chunk, 2500);
}
