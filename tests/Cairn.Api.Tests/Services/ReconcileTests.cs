using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Engine;
using Cairn.Store;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Api.Tests.Services;

/// <summary>The engine is the truth for what exists; the store is repaired from it at start.</summary>
public sealed class ReconcileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "cairn-reconcile-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Records_lost_in_a_crash_are_rebuilt_and_records_of_vanished_volumes_removed()
    {
        Directory.CreateDirectory(_dir);
        using var engine = new EmbeddedEngine(Path.Combine(_dir, "pool"));
        using var store = new SqliteStateStore(Path.Combine(_dir, "state.db"));
        using var router = new PoolRouter();
        router.Bind("p", engine);
        var svc = new VolumeService(router, store, new KeyedLock(), new TargetIndex(), [new AdminRecordReconciler()], NullLogger<VolumeService>.Instance);
        var ct = TestContext.Current.CancellationToken;
        var v = await svc.CreateVolumeAsync("p/v", 1 << 20, parents: true, ct: ct);
        await svc.CreateSnapshotAsync("p/v", "s", ct: ct);
        var c = await svc.CloneAsync("p/v", "s", "p/c", parents: false, ct: ct);

        // What a crash after the engine commit and before the (unsynced) store commit looks like…
        var snapId = store.ListSnapshots(v.Id).Single().Id;
        await store.WriteAsync(w => { w.DeleteVolume(c.Id); w.DeleteSnapshot(snapId); }, ct);
        // …and a record whose volume the engine no longer has.
        var ghost = v.Record! with { Id = Guid.NewGuid(), Name = "p/ghost" };
        await store.WriteAsync(w => w.Put(ghost), ct);

        Assert.Equal(3, await svc.ReconcileAsync(ct));
        Assert.Equal("p/c", store.GetVolume(c.Id)!.Name);
        Assert.Equal(snapId, store.ListSnapshots(v.Id).Single().Id);
        Assert.Null(store.GetVolume(ghost.Id));
        Assert.Equal(0, await svc.ReconcileAsync(ct));
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
