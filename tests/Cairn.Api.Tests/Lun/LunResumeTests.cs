using System.Text.Json.Nodes;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Api.Tests.Lun;

/// <summary>
/// A job left Running in the store by a "crash" at every interesting point of an item's life, then a new job engine
/// over the same files: the job finishes, nothing is done twice, nothing is left half-made.
/// </summary>
public sealed class LunResumeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_job_interrupted_mid_way_finishes_after_restart_without_redoing_items()
    {
        var h = await LunHost.StartAsync();
        await h.Jobs.StopAsync(Ct); // nothing gets dispatched: the test plays the first attempt by hand
        var (_, b) = await h.PostAsync("/clone", LunHost.CreateBody(Enumerable.Range(0, 6)));
        var id = Guid.Parse((string)b!["job_id"]!);
        var items = h.Store.ListJobItems(id);

        // Items 0-1 finished; 2 cloned and recorded; 3 cloned but the crash came before its record; 4 marked, not
        // cloned; 5 untouched.
        await h.Volumes.ApplyAsync([.. Enumerable.Range(0, 4).Select(i => (EngineOp)new EngineOp.CloneSnapshot("tank/images/golden", "1", LunHost.Dst(i), true))], ct: Ct);
        var made = await h.Targets.CreateManyAsync([.. Enumerable.Range(0, 2).Select(i => new TargetSpec(LunHost.Wwn(i), [new TargetLun(0, LunHost.Dst(i))], [LunHost.Init(i)]))], Ct);
        JobItem At(int i, ItemState st, string? stage) => items[i] with
        {
            State = st,
            Started = DateTimeOffset.UtcNow,
            Data = stage is null ? new JsonObject { ["wwn"] = LunHost.Wwn(i), ["existed"] = false } : new JsonObject { ["wwn"] = LunHost.Wwn(i), ["existed"] = false, ["stage"] = stage },
        };
        var job = h.Store.GetJob(id)! with { State = JobState.Running, Started = DateTimeOffset.UtcNow, Attempts = 1, Phase = "start_creating_targets" };
        await h.Store.WriteAsync(w =>
        {
            w.Put(job);
            w.Put(At(0, ItemState.Done, null));
            w.Put(At(1, ItemState.Done, null));
            w.Put(At(2, ItemState.Running, "cloned"));
            w.Put(At(3, ItemState.Running, "cloning"));
            w.Put(At(4, ItemState.Running, "cloning"));
        }, Ct);
        var dir = h.Dir;
        await h.Crash();

        await using var h2 = await LunHost.ReopenAsync(dir);
        var final = await h2.Jobs.WaitAsync(id, Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(JobState.Succeeded, final.State);
        Assert.Equal(2, final.Attempts);
        var (_, s) = await h2.SendAsync(HttpMethod.Get, "/clone_status/" + id);
        Assert.Equal("complete", (string)s!["status"]!);
        Assert.Equal(6, (int)s["num_completed"]!);
        Assert.Equal(6, (int)s["num_targets"]!);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(LunHost.Src, h2.Engine.Get(LunHost.Dst(i))!.Origin);
            Assert.Equal([new TargetLun(0, LunHost.Dst(i))], h2.Targets.Get(LunHost.Wwn(i))!.Luns);
        }
        Assert.Equal(made[0].Target!.Created, h2.Targets.Get(LunHost.Wwn(0))!.Created); // not remade
        Assert.Equal(6, h2.Engine.List("tank/nodes").Count(d => d.Kind == DatasetKind.Volume));
        Assert.Equal(6, h2.Targets.Count);
    }

    [Fact]
    public async Task Delete_job_interrupted_after_removing_a_target_does_not_report_it_missing()
    {
        var h = await LunHost.StartAsync();
        await h.RunAsync(HttpMethod.Post, LunHost.CreateBody([0, 1, 2]));
        await h.Jobs.StopAsync(Ct);
        var (_, b) = await h.SendAsync(HttpMethod.Delete, "/clone", LunHost.DeleteBody([0, 1, 2]));
        var id = Guid.Parse((string)b!["job_id"]!);
        var items = h.Store.ListJobItems(id);
        // Item 0: target deleted, then the crash before the item was recorded. Item 1: target and clone deleted, the
        // clone step not recorded. Item 2: untouched.
        await h.Targets.DeleteManyAsync([LunHost.Wwn(0), LunHost.Wwn(1)], Ct);
        await h.Volumes.ApplyAsync([new EngineOp.Destroy(LunHost.Dst(1))], ct: Ct);
        var job = h.Store.GetJob(id)! with { State = JobState.Running, Started = DateTimeOffset.UtcNow, Attempts = 1, Phase = "start_deleting_targets" };
        await h.Store.WriteAsync(w =>
        {
            w.Put(job);
            w.Put(items[0] with { State = ItemState.Running, Data = new JsonObject { ["stage"] = "deleting_target", ["delete_clones"] = true } });
            w.Put(items[1] with { State = ItemState.Running, Data = new JsonObject { ["stage"] = "deleting_clone", ["delete_clones"] = true, ["target_gone"] = true } });
        }, Ct);
        var dir = h.Dir;
        await h.Crash();

        await using var h2 = await LunHost.ReopenAsync(dir);
        var final = await h2.Jobs.WaitAsync(id, Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.True(final.State == JobState.Succeeded, final.Error);
        Assert.Equal(0, h2.Targets.Count);
        Assert.DoesNotContain(h2.Engine.List("tank/nodes"), d => d.Kind == DatasetKind.Volume);
    }
}
