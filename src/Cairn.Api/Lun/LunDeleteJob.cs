using System.Diagnostics;
using System.Text.Json.Nodes;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Api.Lun;

/// <summary>
/// A LUN delete job: remove each target <c>wwn</c>, then, when asked (<c>deleteClones</c>), destroy <c>dst</c>.
/// A missing target or dataset fails that item only (with a reason); the other steps of the item still run, so a
/// clone whose target is already gone can still be deleted. An item marks each step before it runs it, so after a
/// crash a step found done counts as done rather than as "missing".
/// </summary>
public sealed class LunDeleteJob(VolumeService volumes, TargetService targets, LunStatus status) : IJobHandler
{
    public string Type => LunJobs.DeleteType;

    public async Task RunAsync(JobContext ctx, CancellationToken ct)
    {
        var req = LunRequest.DeleteFromJob(ctx.Job.Request);
        var counters = LunCounters.Of(ctx, create: false);
        await Record(ctx, counters, [], d => { d["job_type"] = "delete"; d["udevd_time"] = 0.0; });
        await LunJobs.Phase(ctx, status, "start_job");

        await LunJobs.Phase(ctx, status, "start_deleting_targets");
        var t0 = Stopwatch.GetTimestamp();
        var todo = ctx.Items.Where(i => !LunJobs.Finished(i) && LunJobs.Stage(i) is null or LunJobs.DeletingTarget).ToList();
        foreach (var chunk in todo.Chunk(LunJobs.ChunkFor(req.Count)))
        {
            ct.ThrowIfCancellationRequested();
            await TargetChunk(ctx, counters, req, chunk, ct);
        }
        var secs = LunJobs.Seconds(t0);
        await Record(ctx, counters, [], d => LunJobs.AddTime(d, "target_time", secs));
        await LunJobs.Phase(ctx, status, "done_deleting_targets");

        await LunJobs.Phase(ctx, status, "start_deleting_clones");
        t0 = Stopwatch.GetTimestamp();
        todo = ctx.Items.Where(i => !LunJobs.Finished(i) && LunJobs.Stage(i) is LunJobs.TargetDeleted or LunJobs.DeletingClone).ToList();
        foreach (var chunk in todo.Chunk(LunJobs.ChunkFor(req.Count)))
        {
            ct.ThrowIfCancellationRequested();
            await CloneChunk(ctx, counters, req, chunk, ct);
        }
        secs = LunJobs.Seconds(t0);
        await Record(ctx, counters, [], d => LunJobs.AddTime(d, "clone_time", secs));
        await LunJobs.Phase(ctx, status, "done_deleting_clones");

        if (ctx.Items.All(i => i.State == ItemState.Done)) await LunJobs.Phase(ctx, status, "complete");
    }

    private async Task TargetChunk(JobContext ctx, LunCounters counters, List<LunDeleteItem> req, JobItem[] chunk, CancellationToken ct)
    {
        var before = new List<JobItem>(chunk.Length);
        var deleting = new List<JobItem>();
        foreach (var item in chunk)
        {
            var ask = req[item.Index];
            var data = LunJobs.Data(item);
            data["wwn"] = ask.Wwn;
            data["delete_clones"] = ask.DeleteClones;
            var resumed = LunJobs.Stage(item) == LunJobs.DeletingTarget;
            var t = targets.Get(ask.Wwn);
            if (t is null)
            {
                // Gone already: by this job before a crash (resumed), or never there (reported on the item).
                if (resumed) data["target_gone"] = true;
                else data["missing"] = $"target {ask.Wwn} does not exist";
                before.Add(Next(item, data, ask));
            }
            else if (!t.Luns.Any(l => l.Dataset == ask.Dst && l.Snapshot is null))
            {
                before.Add(LunJobs.With(item, ItemState.Failed, data,
                    $"target {ask.Wwn} exports {string.Join(", ", t.Luns.Select(l => l.Dataset))}, not {ask.Dst}; nothing was deleted"));
            }
            else
            {
                data["stage"] = LunJobs.DeletingTarget;
                var marked = LunJobs.With(item, ItemState.Running, data);
                before.Add(marked);
                deleting.Add(marked);
            }
        }
        await Record(ctx, counters, before);
        if (deleting.Count == 0) return;

        var t0 = Stopwatch.GetTimestamp();
        var results = await targets.DeleteManyAsync([.. deleting.Select(i => req[i.Index].Wwn)], ct);
        var secs = LunJobs.Seconds(t0);
        var after = new List<JobItem>(deleting.Count);
        for (int k = 0; k < deleting.Count; k++)
        {
            var data = LunJobs.Data(deleting[k]);
            data["target_time"] = secs;
            if (results[k] is { Kind: not Cairn.Core.ErrorKind.NotFound } e)
            {
                data.Remove("stage");
                after.Add(LunJobs.With(deleting[k], ItemState.Failed, data, "target: " + e.Message));
                continue;
            }
            data["target_gone"] = true;
            after.Add(Next(deleting[k], data, req[deleting[k].Index]));
        }
        await Record(ctx, counters, after);
    }

    /// <summary>After the target step: on to the clone step when asked, else the item is finished.</summary>
    private static JobItem Next(JobItem item, JsonObject data, LunDeleteItem ask)
    {
        if (ask.DeleteClones)
        {
            data["stage"] = LunJobs.TargetDeleted;
            return LunJobs.With(item, ItemState.Running, data);
        }
        return Finish(item, data);
    }

    private static JobItem Finish(JobItem item, JsonObject data, string? error = null)
    {
        data.Remove("stage");
        var missing = (string?)data["missing"];
        var why = string.Join("; ", new[] { missing, error }.Where(s => s is not null));
        if (why.Length == 0) return LunJobs.With(item, ItemState.Done, data);
        if ((bool?)data["clone_gone"] == true) why += "; the clone was deleted";
        return LunJobs.With(item, ItemState.Failed, data, why);
    }

    private async Task CloneChunk(JobContext ctx, LunCounters counters, List<LunDeleteItem> req, JobItem[] chunk, CancellationToken ct)
    {
        var before = new List<JobItem>(chunk.Length);
        var destroying = new List<JobItem>();
        foreach (var item in chunk)
        {
            var ask = req[item.Index];
            var data = LunJobs.Data(item);
            var resumed = LunJobs.Stage(item) == LunJobs.DeletingClone;
            if ((await volumes.GetDatasetAsync(ask.Dst, ct)) is null)
            {
                if (resumed) data["clone_gone"] = true;
                else data["missing"] = string.Join("; ", new[] { (string?)data["missing"], $"volume {ask.Dst} does not exist" }.Where(s => s is not null));
                before.Add(Finish(item, data));
                continue;
            }
            var users = targets.TargetsUsing(ask.Dst);
            if (users.Count > 0)
            {
                before.Add(Finish(item, data, $"{ask.Dst} is still exported by target {string.Join(", ", users)}; the clone was kept"));
                continue;
            }
            data["stage"] = LunJobs.DeletingClone;
            var marked = LunJobs.With(item, ItemState.Running, data);
            before.Add(marked);
            destroying.Add(marked);
        }
        await Record(ctx, counters, before);
        if (destroying.Count == 0) return;

        var t0 = Stopwatch.GetTimestamp();
        var results = await volumes.ApplyAsync([.. destroying.Select(i => (EngineOp)new EngineOp.Destroy(req[i.Index].Dst))], ct: ct);
        var secs = LunJobs.Seconds(t0);
        var after = new List<JobItem>(destroying.Count);
        for (int k = 0; k < destroying.Count; k++)
        {
            var data = LunJobs.Data(destroying[k]);
            data["clone_time"] = secs;
            if (results[k].Error is { } e)
            {
                after.Add(Finish(destroying[k], data, "clone: " + e.Message));
                continue;
            }
            data["clone_gone"] = true;
            after.Add(Finish(destroying[k], data));
        }
        await Record(ctx, counters, after);
    }

    private Task Record(JobContext ctx, LunCounters counters, IReadOnlyList<JobItem> batch, Action<JsonObject>? more = null) =>
        LunJobs.Record(ctx, status, counters, batch, more);
}
