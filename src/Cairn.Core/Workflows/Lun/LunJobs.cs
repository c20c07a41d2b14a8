using System.Text.Json.Nodes;
using Cairn.Core.Jobs;
using Cairn.Core.State;

namespace Cairn.Core.Workflows.Lun;

/// <summary>
/// Told of every change a LUN job records (the LUN clone API's status cache re-renders the job from it).
/// </summary>
public interface ILunJobObserver
{
    /// <summary>The job behind <paramref name="ctx"/> recorded a change.</summary>
    void Changed(JobContext ctx);
}

/// <summary>Names and helpers shared by the LUN create and delete jobs.</summary>
public static class LunJobs
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

    /// <summary>
    /// Submits a LUN job over a stored request (<see cref="LunJobRequest"/>): one item per <paramref name="dsts"/>
    /// entry, and every dataset and target it names as a conflict key, so two jobs naming the same dataset or target
    /// run one after the other, never interleaved.
    /// </summary>
    public static Task<JobRecord> SubmitAsync(JobEngine jobs, string type, JsonObject request, IReadOnlyList<string> dsts, IReadOnlyList<string> wwns, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(dsts);
        ArgumentNullException.ThrowIfNull(wwns);
        if (type is not (CreateType or DeleteType)) throw new ArgumentOutOfRangeException(nameof(type), type, "not a LUN job type");
        return jobs.SubmitAsync(type, request, dsts, "pending", [.. dsts, .. wwns], ct);
    }

    /// <summary>Adds <paramref name="seconds"/> to a timing field of the job data (phases re-run after a crash add up).</summary>
    internal static void AddTime(JsonObject d, string field, double seconds) => d[field] = ((double?)d[field] ?? 0) + seconds;

    /// <summary>
    /// Records a batch of item results together with the counters they change, in one store write. The counters start
    /// from the items themselves (<see cref="LunCounters.Of"/>, once per run, so a resumed job never counts an item
    /// twice) and then follow each batch by difference: a chunk costs the same in a 10,000-item job as in a 100-item
    /// one, and allocates nothing per item of the job.
    /// </summary>
    internal static async Task Record(JobContext ctx, ILunJobObserver status, LunCounters counters, IReadOnlyList<JobItem> batch, Action<JsonObject>? more = null)
    {
        var next = counters.Now;
        foreach (var b in batch) next = next.Replace(ctx.Item(b.Index), b);
        var data = ctx.Job.Data;
        if (more is null && data is not null && next.Matches(data))
        {
            // Only item marks (stages before a step): no need to rewrite the job record.
            await ctx.UpdateItemsAsync(batch);
            counters.Now = next;
            return;
        }
        await ctx.UpdateItemsAsync(batch, d =>
        {
            more?.Invoke(d);
            next.WriteTo(d);
        }, progress: next.Percent());
        counters.Now = next;
        status.Changed(ctx);
    }

    /// <summary>Records the job's status word (the original's phase names) and tells the status cache.</summary>
    internal static async Task Phase(JobContext ctx, ILunJobObserver status, string phase)
    {
        await ctx.SetPhaseAsync(phase);
        status.Changed(ctx);
    }

    /// <summary>Items per engine/store commit: 250, more for big jobs so a job takes a bounded number of commits
    /// (each commit also rewrites the job record, whose request grows with the job).</summary>
    internal static int ChunkFor(int items) => Math.Clamp(items / 4, Chunk, 2500);
}

/// <summary>The counters of a running LUN job (the original's num_* fields), kept from the items it recorded.</summary>
public sealed class LunCounters
{
    private LunCounters(Tally now) => Now = now;

    internal Tally Now { get; set; }

    /// <summary>Counts the job's items as recorded (the start of a run, first or resumed).</summary>
    public static LunCounters Of(JobContext ctx, bool create)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var t = new Tally(create, ctx.ItemCount, 0, 0, 0, 0);
        foreach (var i in ctx.Items) t = t.Replace(null, i);
        return new LunCounters(t);
    }

    internal readonly record struct Tally(bool Create, int Requested, int Clones, int Targets, int Completed, int ClonesAsked)
    {
        /// <summary>The tally with <paramref name="before"/> (if any) taken out and <paramref name="after"/> put in.</summary>
        public Tally Replace(JobItem? before, JobItem after)
        {
            var t = this;
            if (before is not null) t = t.Add(before, -1);
            return t.Add(after, 1);
        }

        private Tally Add(JobItem i, int sign)
        {
            int clones = 0, targets = 0, asked = 0;
            if (Create)
            {
                if (i.State == ItemState.Done) { clones = 1; targets = 1; }
                else if (JobItems.Stage(i) == LunJobs.Cloned) clones = 1;
            }
            else
            {
                if ((bool?)i.Data?["delete_clones"] == true) asked = 1;
                if ((bool?)i.Data?["target_gone"] == true) targets = 1;
                if ((bool?)i.Data?["clone_gone"] == true) clones = 1;
            }
            var done = JobItems.Finished(i) ? 1 : 0;
            return this with
            {
                Clones = Clones + sign * clones,
                Targets = Targets + sign * targets,
                Completed = Completed + sign * done,
                ClonesAsked = ClonesAsked + sign * asked,
            };
        }

        /// <summary>The original's percent_completed: for a create each item is half clone, half target.</summary>
        public double Percent() => Requested == 0 ? 1.0
            : Create ? Math.Min(1.0, (Clones + Targets) * 0.5 / Requested)
            : Math.Min(1.0, (double)(Targets + Clones) / (Requested + ClonesAsked));

        public void WriteTo(JsonObject d)
        {
            d["num_requested"] = Requested;
            d["num_clones"] = Clones;
            d["num_targets"] = Targets;
            d["num_completed"] = Completed;
            d["percent_completed"] = Percent();
        }

        /// <summary>Whether the job data already holds these counters.</summary>
        public bool Matches(JsonObject d) =>
            Is(d["num_requested"], Requested) && Is(d["num_clones"], Clones) && Is(d["num_targets"], Targets)
            && Is(d["num_completed"], Completed) && d["percent_completed"] is JsonValue p && p.TryGetValue<double>(out var x) && x == Percent();

        private static bool Is(JsonNode? n, int value) => n is JsonValue v && v.TryGetValue<int>(out var x) && x == value;
    }
}
