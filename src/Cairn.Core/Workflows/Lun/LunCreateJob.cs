using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Core.Workflows.Lun;

/// <summary>
/// A LUN create job: clone every <c>src</c> to its <c>dst</c>, then export each clone as target <c>wwn</c> (LUN 0,
/// the listed initiators only). Both steps are <see cref="JobBatch{TWork, TResult}"/>s: one engine commit per chunk of
/// clones, one store commit per chunk of targets. Each item records its stage before and after each step, so a job
/// resumed after a crash redoes nothing: clones and targets that exist as asked count as done. A clone this job made
/// whose target then fails is removed again, so no item is left half-made.
/// </summary>
public sealed class LunCreateJob(VolumeService volumes, TargetService targets, ILunJobObserver status) : IJobHandler
{
    private readonly record struct TargetResult(CairnException? Error, bool Undone, CairnException? UndoError);

    public string Type => LunJobs.CreateType;

    public async Task RunAsync(JobContext ctx, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var req = LunJobRequest.CreateFromJob(ctx.Job.Request);
        var counters = LunCounters.Of(ctx, create: true);
        Task Record(JobContext c, IReadOnlyList<JobItem> batch) => LunJobs.Record(c, status, counters, batch);
        await LunJobs.Record(ctx, status, counters, [], d => { d["job_type"] = "create"; d["udevd_time"] = 0.0; });
        await LunJobs.Phase(ctx, status, "start_job");

        await LunJobs.Phase(ctx, status, "start_creating_clones");
        var cloneSecs = await CloneStep(req, Record).RunAsync(ctx, ctx.Items.Where(i => JobItems.Stage(i) != LunJobs.Cloned), LunJobs.ChunkFor(req.Count), ct);
        await LunJobs.Record(ctx, status, counters, [], d => LunJobs.AddTime(d, "clone_time", cloneSecs));
        await LunJobs.Phase(ctx, status, "done_creating_clones");

        // The original waited for udev to settle system-wide. Cairn's volumes are served in-process or by path:
        // there is no block device to wait for, so this phase is recorded (clients poll for it) and takes no time.
        await LunJobs.Phase(ctx, status, "start_waiting_udevd");
        await LunJobs.Phase(ctx, status, "done_waiting_udevd");

        await LunJobs.Phase(ctx, status, "start_creating_targets");
        var targetSecs = await TargetStep(req, Record).RunAsync(ctx, ctx.Items.Where(i => JobItems.Stage(i) == LunJobs.Cloned), LunJobs.ChunkFor(req.Count), ct);
        await LunJobs.Record(ctx, status, counters, [], d => LunJobs.AddTime(d, "target_time", targetSecs));
        await LunJobs.Phase(ctx, status, "done_creating_targets");

        // With failed items the job engine ends the job Failed with a summary naming them; "complete" means all done.
        if (ctx.Items.All(i => i.State == ItemState.Done)) await LunJobs.Phase(ctx, status, "complete");
    }

    private JobBatch<LunCreateItem, EngineOpResult> CloneStep(List<LunCreateItem> req, Func<JobContext, IReadOnlyList<JobItem>, Task> record) => new()
    {
        Mark = LunJobs.Cloning,
        Record = record,
        Plan = async (item, _, ct) =>
        {
            var ask = req[item.Index];
            var data = JobItems.Data(item);
            data["wwn"] = ask.Wwn;
            // Whether dst was there before this job touched it: only clones this job made are removed on failure.
            data["existed"] ??= (await volumes.GetDatasetAsync(ask.Dst, ct)) is not null;
            return Precheck(ask) is { } why
                ? ItemPlan<LunCreateItem>.Settle(JobItems.With(item, ItemState.Failed, data, why))
                : ItemPlan<LunCreateItem>.Run(ask, data);
        },
        Run = (asks, ct) => volumes.ApplyAsync([.. asks.Select(a =>
        {
            var at = a.Src.IndexOf('@', StringComparison.Ordinal);
            return (EngineOp)new EngineOp.CloneSnapshot(a.Src[..at], a.Src[(at + 1)..], a.Dst, a.CreateParent, a.Properties.Count > 0 ? a.Properties : null);
        })], ct: ct),
        Outcome = async (o, ct) =>
        {
            var data = JobItems.Data(o.Item);
            data["clone_time"] = o.Seconds;
            if (o.Result.Error is { } e)
            {
                data.Remove("stage");
                return JobItems.With(o.Item, ItemState.Failed, data, "clone: " + await ExplainAsync(o.Work, e, ct));
            }
            data["stage"] = LunJobs.Cloned;
            return JobItems.With(o.Item, ItemState.Running, data);
        },
    };

    /// <summary>Refuses, before cloning, an item whose target could not be made as asked (so no clone is left without it).</summary>
    private string? Precheck(LunCreateItem ask)
    {
        if (targets.Get(ask.Wwn) is { } t)
        {
            var same = t.Luns.Count == 1 && t.Luns[0] is { Lun: 0, Snapshot: null } l && l.Dataset == ask.Dst
                && t.Initiators.Order(StringComparer.Ordinal).SequenceEqual(ask.Initiators.Order(StringComparer.Ordinal));
            if (!same) return $"target {ask.Wwn} already exists with other LUNs or initiators";
        }
        var users = targets.TargetsUsing(ask.Dst).Where(u => !string.Equals(u, ask.Wwn, StringComparison.OrdinalIgnoreCase)).ToList();
        return users.Count > 0 ? $"{ask.Dst} is already exported by target {string.Join(", ", users)}" : null;
    }

    private async Task<string> ExplainAsync(LunCreateItem ask, CairnException e, CancellationToken ct) =>
        e.Kind == ErrorKind.AlreadyExists && await volumes.GetDatasetAsync(ask.Dst, ct) is { } d
            ? $"{ask.Dst} already exists and is not a clone of {ask.Src} (origin: {d.Origin ?? "none"})"
            : e.Message;

    // No mark: creating a target that exists as asked counts as done, so a resumed chunk simply runs again.
    private JobBatch<(LunCreateItem Ask, bool Existed), TargetResult> TargetStep(List<LunCreateItem> req, Func<JobContext, IReadOnlyList<JobItem>, Task> record) => new()
    {
        Record = record,
        Plan = (item, _, _) => ValueTask.FromResult(ItemPlan<(LunCreateItem, bool)>.Run((req[item.Index], (bool?)item.Data?["existed"] == true))),
        Run = async (work, ct) =>
        {
            var specs = work.Select(w => new TargetSpec(w.Ask.Wwn, [new TargetLun(0, w.Ask.Dst)], w.Ask.Initiators, Portal: w.Ask.Portal)).ToList();
            var made = await targets.CreateManyAsync(specs, ct);
            // A clone this job made whose target failed is removed again (one engine commit for the chunk).
            var undo = Enumerable.Range(0, work.Count).Where(k => made[k].Error is not null && !work[k].Existed).ToList();
            var undone = new Dictionary<int, CairnException?>();
            if (undo.Count > 0)
            {
                var r = await volumes.ApplyAsync([.. undo.Select(k => (EngineOp)new EngineOp.Destroy(work[k].Ask.Dst))], ct: ct);
                for (int n = 0; n < undo.Count; n++) undone[undo[n]] = r[n].Error;
            }
            return [.. Enumerable.Range(0, work.Count).Select(k =>
                new TargetResult(made[k].Error, undone.ContainsKey(k), undone.GetValueOrDefault(k)))];
        },
        Outcome = (o, _) =>
        {
            var data = JobItems.Data(o.Item);
            data["target_time"] = o.Seconds;
            data.Remove("stage");
            if (o.Result.Error is { } e)
            {
                var tail = !o.Result.Undone ? "; the existing clone was kept"
                    : o.Result.UndoError is null ? "; the clone made for it was removed" : $"; removing the clone failed: {o.Result.UndoError.Message}";
                return ValueTask.FromResult(JobItems.With(o.Item, ItemState.Failed, data, "target: " + e.Message + tail));
            }
            var ask = o.Work.Ask;
            if (ask.Properties.Count > 0 && !volumes.CapabilitiesOf(ask.Dst).HasFlag(EngineCapabilities.Properties))
                data["note"] = "properties not applied (the pool's engine has no dataset properties): " + string.Join(", ", ask.Properties.Keys);
            return ValueTask.FromResult(JobItems.With(o.Item, ItemState.Done, data));
        },
    };
}
