using System.Diagnostics;
using Cairn.Core;
using Cairn.Core.Jobs;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Api.Lun;

/// <summary>
/// A LUN create job: clone every <c>src</c> to its <c>dst</c>, then export each clone as target <c>wwn</c> (LUN 0,
/// the listed initiators only). Items run in chunks: one engine commit and one store commit per chunk of clones,
/// one store commit per chunk of targets. Each item records its stage before and after each step, so a job resumed
/// after a crash redoes nothing: clones and targets that exist as asked count as done. A clone this job made whose
/// target then fails is removed again, so no item is left half-made.
/// </summary>
public sealed class LunCreateJob(VolumeService volumes, TargetService targets, LunStatus status) : IJobHandler
{
    public string Type => LunJobs.CreateType;

    public async Task RunAsync(JobContext ctx, CancellationToken ct)
    {
        var req = LunRequest.CreateFromJob(ctx.Job.Request);
        var counters = LunCounters.Of(ctx, create: true);
        await Record(ctx, counters, [], d => { d["job_type"] = "create"; d["udevd_time"] = 0.0; });
        await LunJobs.Phase(ctx, status, "start_job");

        await LunJobs.Phase(ctx, status, "start_creating_clones");
        var t0 = Stopwatch.GetTimestamp();
        var todo = ctx.Items.Where(i => !LunJobs.Finished(i) && LunJobs.Stage(i) != LunJobs.Cloned).ToList();
        foreach (var chunk in todo.Chunk(LunJobs.ChunkFor(req.Count)))
        {
            ct.ThrowIfCancellationRequested();
            await CloneChunk(ctx, counters, req, chunk, ct);
        }
        var cloneSecs = LunJobs.Seconds(t0);
        await Record(ctx, counters, [], d => LunJobs.AddTime(d, "clone_time", cloneSecs));
        await LunJobs.Phase(ctx, status, "done_creating_clones");

        // The original waited for udev to settle system-wide. The embedded engine's volumes are served in-process:
        // there is no block device to wait for, so this phase is recorded (clients poll for it) and takes no time.
        await LunJobs.Phase(ctx, status, "start_waiting_udevd");
        await LunJobs.Phase(ctx, status, "done_waiting_udevd");

        await LunJobs.Phase(ctx, status, "start_creating_targets");
        t0 = Stopwatch.GetTimestamp();
        todo = ctx.Items.Where(i => !LunJobs.Finished(i) && LunJobs.Stage(i) == LunJobs.Cloned).ToList();
        foreach (var chunk in todo.Chunk(LunJobs.ChunkFor(req.Count)))
        {
            ct.ThrowIfCancellationRequested();
            await TargetChunk(ctx, counters, req, chunk, ct);
        }
        var targetSecs = LunJobs.Seconds(t0);
        await Record(ctx, counters, [], d => LunJobs.AddTime(d, "target_time", targetSecs));
        await LunJobs.Phase(ctx, status, "done_creating_targets");

        // With failed items the job engine ends the job Failed with a summary naming them; "complete" means all done.
        if (ctx.Items.All(i => i.State == ItemState.Done)) await LunJobs.Phase(ctx, status, "complete");
    }

    private async Task CloneChunk(JobContext ctx, LunCounters counters, List<LunCreateItem> req, JobItem[] chunk, CancellationToken ct)
    {
        var before = new List<JobItem>(chunk.Length);
        var running = new List<(JobItem Item, LunCreateItem Ask)>();
        foreach (var item in chunk)
        {
            var ask = req[item.Index];
            var data = LunJobs.Data(item);
            data["wwn"] = ask.Wwn;
            // Whether dst was there before this job touched it: only clones this job made are removed on failure.
            data["existed"] ??= (await volumes.GetDatasetAsync(ask.Dst, ct)) is not null;
            if (Precheck(ask) is { } why)
            {
                before.Add(LunJobs.With(item, ItemState.Failed, data, why));
                continue;
            }
            data["stage"] = LunJobs.Cloning;
            var marked = LunJobs.With(item, ItemState.Running, data);
            before.Add(marked);
            running.Add((marked, ask));
        }
        await Record(ctx, counters, before);
        if (running.Count == 0) return;

        var ops = running.Select(r =>
        {
            var at = r.Ask.Src.IndexOf('@', StringComparison.Ordinal);
            return (EngineOp)new EngineOp.CloneSnapshot(r.Ask.Src[..at], r.Ask.Src[(at + 1)..], r.Ask.Dst, r.Ask.CreateParent, r.Ask.Properties.Count > 0 ? r.Ask.Properties : null);
        }).ToList();
        var t0 = Stopwatch.GetTimestamp();
        var results = await volumes.ApplyAsync(ops, ct: ct);
        var secs = LunJobs.Seconds(t0);
        var after = new List<JobItem>(running.Count);
        for (int k = 0; k < running.Count; k++)
        {
            var (item, ask) = running[k];
            var data = LunJobs.Data(item);
            data["clone_time"] = secs;
            if (results[k].Error is { } e)
            {
                data.Remove("stage");
                after.Add(LunJobs.With(item, ItemState.Failed, data, "clone: " + await ExplainAsync(ask, e, ct)));
            }
            else
            {
                data["stage"] = LunJobs.Cloned;
                after.Add(LunJobs.With(item, ItemState.Running, data));
            }
        }
        await Record(ctx, counters, after);
    }

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

    private async Task TargetChunk(JobContext ctx, LunCounters counters, List<LunCreateItem> req, JobItem[] chunk, CancellationToken ct)
    {
        var asks = chunk.Select(i => req[i.Index]).ToList();
        var specs = asks.Select(a => new TargetSpec(a.Wwn, [new TargetLun(0, a.Dst)], a.Initiators, Portal: a.Portal)).ToList();
        var t0 = Stopwatch.GetTimestamp();
        var results = await targets.CreateManyAsync(specs, ct);
        var secs = LunJobs.Seconds(t0);

        var undo = new List<int>();
        for (int k = 0; k < chunk.Length; k++)
            if (results[k].Error is not null && (bool?)chunk[k].Data?["existed"] != true) undo.Add(k);
        var undone = new Dictionary<int, CairnException?>();
        if (undo.Count > 0)
        {
            var r = await volumes.ApplyAsync([.. undo.Select(k => (EngineOp)new EngineOp.Destroy(asks[k].Dst))], ct: ct);
            for (int n = 0; n < undo.Count; n++) undone[undo[n]] = r[n].Error;
        }

        var after = new List<JobItem>(chunk.Length);
        for (int k = 0; k < chunk.Length; k++)
        {
            var data = LunJobs.Data(chunk[k]);
            data["target_time"] = secs;
            if (results[k].Error is { } e)
            {
                var tail = !undone.TryGetValue(k, out var ue) ? "; the existing clone was kept"
                    : ue is null ? "; the clone made for it was removed" : $"; removing the clone failed: {ue.Message}";
                data.Remove("stage");
                after.Add(LunJobs.With(chunk[k], ItemState.Failed, data, "target: " + e.Message + tail));
                continue;
            }
            if (asks[k].Properties.Count > 0 && !volumes.CapabilitiesOf(asks[k].Dst).HasFlag(EngineCapabilities.Properties))
                data["note"] = "properties not applied (the pool's engine has no dataset properties): " + string.Join(", ", asks[k].Properties.Keys);
            data.Remove("stage");
            after.Add(LunJobs.With(chunk[k], ItemState.Done, data));
        }
        await Record(ctx, counters, after);
    }

    private Task Record(JobContext ctx, LunCounters counters, IReadOnlyList<JobItem> batch, Action<System.Text.Json.Nodes.JsonObject>? more = null) =>
        LunJobs.Record(ctx, status, counters, batch, more);
}
