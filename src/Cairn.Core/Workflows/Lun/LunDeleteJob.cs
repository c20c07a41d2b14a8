using System.Text.Json.Nodes;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Core.Workflows.Lun;

/// <summary>
/// A LUN delete job: remove each target <c>wwn</c>, then, when asked (<c>deleteClones</c>), destroy <c>dst</c>.
/// A missing target or dataset fails that item only (with a reason); the other steps of the item still run, so a
/// clone whose target is already gone can still be deleted. Both steps are <see cref="JobBatch{TWork, TResult}"/>s
/// that mark each item before they run it, so after a crash a step found done counts as done rather than as "missing".
/// </summary>
public sealed class LunDeleteJob(VolumeService volumes, TargetService targets, ILunJobObserver status) : IJobHandler
{
    public string Type => LunJobs.DeleteType;

    public async Task RunAsync(JobContext ctx, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var req = LunJobRequest.DeleteFromJob(ctx.Job.Request);
        var counters = LunCounters.Of(ctx, create: false);
        Task Record(JobContext c, IReadOnlyList<JobItem> batch) => LunJobs.Record(c, status, counters, batch);
        await LunJobs.Record(ctx, status, counters, [], d => { d["job_type"] = "delete"; d["udevd_time"] = 0.0; });
        await LunJobs.Phase(ctx, status, "start_job");

        await LunJobs.Phase(ctx, status, "start_deleting_targets");
        var secs = await TargetStep(req, Record).RunAsync(ctx,
            ctx.Items.Where(i => JobItems.Stage(i) is null or LunJobs.DeletingTarget), LunJobs.ChunkFor(req.Count), ct);
        await LunJobs.Record(ctx, status, counters, [], d => LunJobs.AddTime(d, "target_time", secs));
        await LunJobs.Phase(ctx, status, "done_deleting_targets");

        await LunJobs.Phase(ctx, status, "start_deleting_clones");
        secs = await CloneStep(req, Record).RunAsync(ctx,
            ctx.Items.Where(i => JobItems.Stage(i) is LunJobs.TargetDeleted or LunJobs.DeletingClone), LunJobs.ChunkFor(req.Count), ct);
        await LunJobs.Record(ctx, status, counters, [], d => LunJobs.AddTime(d, "clone_time", secs));
        await LunJobs.Phase(ctx, status, "done_deleting_clones");

        if (ctx.Items.All(i => i.State == ItemState.Done)) await LunJobs.Phase(ctx, status, "complete");
    }

    private JobBatch<LunDeleteItem, CairnException?> TargetStep(List<LunDeleteItem> req, Func<JobContext, IReadOnlyList<JobItem>, Task> record) => new()
    {
        Mark = LunJobs.DeletingTarget,
        Record = record,
        Plan = (item, resumed, _) =>
        {
            var ask = req[item.Index];
            var data = JobItems.Data(item);
            data["wwn"] = ask.Wwn;
            data["delete_clones"] = ask.DeleteClones;
            var t = targets.Get(ask.Wwn);
            if (t is null)
            {
                // Gone already: by this job before a crash (resumed), or never there (reported on the item).
                if (resumed) data["target_gone"] = true;
                else data["missing"] = $"target {ask.Wwn} does not exist";
                return ValueTask.FromResult(ItemPlan<LunDeleteItem>.Settle(Next(item, data, ask)));
            }
            if (!t.Luns.Any(l => l.Dataset == ask.Dst && l.Snapshot is null))
            {
                return ValueTask.FromResult(ItemPlan<LunDeleteItem>.Settle(JobItems.With(item, ItemState.Failed, data,
                    $"target {ask.Wwn} exports {string.Join(", ", t.Luns.Select(l => l.Dataset))}, not {ask.Dst}; nothing was deleted")));
            }
            return ValueTask.FromResult(ItemPlan<LunDeleteItem>.Run(ask, data));
        },
        Run = (asks, ct) => targets.DeleteManyAsync([.. asks.Select(a => a.Wwn)], ct),
        Outcome = (o, _) =>
        {
            var data = JobItems.Data(o.Item);
            data["target_time"] = o.Seconds;
            if (o.Result is { Kind: not ErrorKind.NotFound } e)
            {
                data.Remove("stage");
                return ValueTask.FromResult(JobItems.With(o.Item, ItemState.Failed, data, "target: " + e.Message));
            }
            data["target_gone"] = true;
            return ValueTask.FromResult(Next(o.Item, data, o.Work));
        },
    };

    /// <summary>After the target step: on to the clone step when asked, else the item is finished.</summary>
    private static JobItem Next(JobItem item, JsonObject data, LunDeleteItem ask)
    {
        if (ask.DeleteClones)
        {
            data["stage"] = LunJobs.TargetDeleted;
            return JobItems.With(item, ItemState.Running, data);
        }
        return Finish(item, data);
    }

    private static JobItem Finish(JobItem item, JsonObject data, string? error = null)
    {
        data.Remove("stage");
        var missing = (string?)data["missing"];
        var why = string.Join("; ", new[] { missing, error }.Where(s => s is not null));
        if (why.Length == 0) return JobItems.With(item, ItemState.Done, data);
        if ((bool?)data["clone_gone"] == true) why += "; the clone was deleted";
        return JobItems.With(item, ItemState.Failed, data, why);
    }

    private JobBatch<LunDeleteItem, EngineOpResult> CloneStep(List<LunDeleteItem> req, Func<JobContext, IReadOnlyList<JobItem>, Task> record) => new()
    {
        Mark = LunJobs.DeletingClone,
        Record = record,
        Plan = async (item, resumed, ct) =>
        {
            var ask = req[item.Index];
            var data = JobItems.Data(item);
            if ((await volumes.GetDatasetAsync(ask.Dst, ct)) is null)
            {
                if (resumed) data["clone_gone"] = true;
                else data["missing"] = string.Join("; ", new[] { (string?)data["missing"], $"volume {ask.Dst} does not exist" }.Where(s => s is not null));
                return ItemPlan<LunDeleteItem>.Settle(Finish(item, data));
            }
            var users = targets.TargetsUsing(ask.Dst);
            if (users.Count > 0)
                return ItemPlan<LunDeleteItem>.Settle(Finish(item, data, $"{ask.Dst} is still exported by target {string.Join(", ", users)}; the clone was kept"));
            return ItemPlan<LunDeleteItem>.Run(ask, data);
        },
        Run = (asks, ct) => volumes.ApplyAsync([.. asks.Select(a => (EngineOp)new EngineOp.Destroy(a.Dst))], ct: ct),
        Outcome = (o, _) =>
        {
            var data = JobItems.Data(o.Item);
            data["clone_time"] = o.Seconds;
            if (o.Result.Error is { } e) return ValueTask.FromResult(Finish(o.Item, data, "clone: " + e.Message));
            data["clone_gone"] = true;
            return ValueTask.FromResult(Finish(o.Item, data));
        },
    };
}
