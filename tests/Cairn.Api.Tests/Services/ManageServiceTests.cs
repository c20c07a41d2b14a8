using Cairn.Core;
using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Cairn.Engine;
using Cairn.Store;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Api.Tests.Services;

/// <summary>
/// The state store's records follow rename, rollback and promote (so that a reconcile at the next start finds nothing
/// to repair), and a module cannot change another module's volumes through them.
/// </summary>
public sealed class ManageServiceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "cairn-manage-" + Guid.NewGuid().ToString("N"));
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Parts(EmbeddedEngine Engine, SqliteStateStore Store, VolumeService Volumes) : IDisposable
    {
        public void Dispose()
        {
            Store.Dispose();
            Engine.Dispose();
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The returned Parts owns and disposes them.")]
    private async Task<Parts> OpenAsync()
    {
        Directory.CreateDirectory(_dir);
        var engine = new EmbeddedEngine(Path.Combine(_dir, "pool"), new EmbeddedEngineOptions { Durable = false });
        var store = new SqliteStateStore(Path.Combine(_dir, "state.db"));
        var router = new PoolRouter();
        var pools = new PoolService(router, [new EngineProvider("embedded", () => engine)], store, NullLogger<PoolService>.Instance);
        var volumes = new VolumeService(router, store, new KeyedLock(), new TargetIndex(), [new AdminRecordReconciler()], NullLogger<VolumeService>.Instance);
        await pools.CreateAsync("tank", null, Ct);
        return new Parts(engine, store, volumes);
    }

    [Fact]
    public async Task Records_follow_rename_rollback_and_promote_and_reconcile_finds_nothing_to_repair()
    {
        using var p = await OpenAsync();
        var v = await p.Volumes.CreateVolumeAsync("tank/a/v", 1 << 20, parents: true, ct: Ct);
        var s1 = await p.Volumes.CreateSnapshotAsync("tank/a/v", "s1", ct: Ct);
        await p.Volumes.ResizeAsync("tank/a/v", 2 << 20, ct: Ct);
        var s2 = await p.Volumes.CreateSnapshotAsync("tank/a/v", "s2", ct: Ct);

        var rb = await p.Volumes.RollbackAsync("tank/a/v", "s1", destroyLater: true, ct: Ct);
        Assert.Equal(["tank/a/v@s2"], rb.DestroyedSnapshots);
        Assert.Equal(1 << 20, p.Store.GetVolume(v.Id)!.Size);
        Assert.Null(p.Store.GetSnapshot(s2.Id));

        var renamed = await p.Volumes.RenameAsync("tank/a", "tank/b", parents: false, ct: Ct);
        Assert.Equal("tank/b", renamed.Dataset.Name);
        Assert.Equal("tank/b/v", p.Store.GetVolume(v.Id)!.Name);
        Assert.Null(p.Store.FindVolume("tank/a/v"));

        await p.Volumes.RenameSnapshotAsync("tank/b/v", "s1", "gold", ct: Ct);
        Assert.Equal("gold", p.Store.GetSnapshot(s1.Id)!.Name);

        var c = await p.Volumes.CloneAsync("tank/b/v", "gold", "tank/c", parents: false, ct: Ct);
        var promoted = await p.Volumes.PromoteAsync("tank/c", ct: Ct);
        Assert.Null(promoted.Dataset.Origin);
        Assert.Equal(c.Id, p.Store.GetSnapshot(s1.Id)!.VolumeId);

        Assert.Equal(0, await p.Volumes.ReconcileAsync(Ct));
        await p.Volumes.DestroyAsync("tank/b/v", recursive: false, ct: Ct);
        Assert.Null(p.Store.GetVolume(v.Id));
        Assert.NotNull(p.Store.GetSnapshot(s1.Id));
        Assert.Equal(0, await p.Volumes.ReconcileAsync(Ct));
    }

    [Fact]
    public async Task The_admin_module_cannot_rename_roll_back_or_promote_another_modules_volume()
    {
        using var p = await OpenAsync();
        var cinder = new Owner(Modules.BlockStorage, "project-1");
        await p.Volumes.CreateVolumeAsync("tank/volume-1", 1 << 20, parents: false, owner: cinder, ct: Ct);
        await p.Volumes.CreateSnapshotAsync("tank/volume-1", "s", owner: cinder, ct: Ct);
        await p.Volumes.CloneAsync("tank/volume-1", "s", "tank/volume-2", parents: false, owner: cinder, ct: Ct);
        await p.Volumes.CreateFolderAsync("tank/f", parents: false, ct: Ct);

        async Task Refused(Func<Task> call)
        {
            var e = await Assert.ThrowsAsync<CairnException>(call);
            Assert.Equal(ErrorKind.Forbidden, e.Kind);
            Assert.Contains("block-storage", e.Message, StringComparison.Ordinal);
        }
        await Refused(() => p.Volumes.RenameAsync("tank/volume-1", "tank/f/v", parents: false, ct: Ct));
        await Refused(() => p.Volumes.RenameSnapshotAsync("tank/volume-1", "s", "t", ct: Ct));
        await Refused(() => p.Volumes.RollbackAsync("tank/volume-1", "s", destroyLater: false, ct: Ct));
        await Refused(() => p.Volumes.PromoteAsync("tank/volume-2", ct: Ct));
        Assert.NotNull(p.Engine.Get("tank/volume-1"));
        Assert.Equal("tank/volume-1@s", p.Engine.Get("tank/volume-2")!.Origin);

        // Batches do not take them: their records and export checks are the calls' own.
        var batch = await p.Volumes.ApplyAsync([new EngineOp.Rename("tank/f", "tank/g")], ct: Ct);
        Assert.Equal(ErrorKind.NotSupported, batch[0].Error!.Kind);

        // The owning module can.
        var moved = await p.Volumes.RenameAsync("tank/volume-1", "tank/f/v", parents: false, owner: cinder, ct: Ct);
        Assert.Equal(Modules.BlockStorage, moved.Record!.Module);
        Assert.Equal("tank/f/v", p.Store.FindVolume("tank/f/v")!.Name);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
