using Cairn.Core;
using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Cairn.Engine;
using Cairn.Store;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Api.Tests.Services;

/// <summary>Pools exist only once created, route names to their engine, and an older data directory's implicit pools are adopted.</summary>
public sealed class PoolTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "cairn-pools-" + Guid.NewGuid().ToString("N"));
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Parts(EmbeddedEngine Engine, SqliteStateStore Store, PoolRouter Router, PoolService Pools, VolumeService Volumes) : IDisposable
    {
        public void Dispose()
        {
            Store.Dispose();
            Engine.Dispose();
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The returned Parts owns and disposes them.")]
    private Parts Open()
    {
        Directory.CreateDirectory(_dir);
        var engine = new EmbeddedEngine(Path.Combine(_dir, "pool"), new EmbeddedEngineOptions { Durable = false });
        var store = new SqliteStateStore(Path.Combine(_dir, "state.db"));
        var router = new PoolRouter();
        var pools = new PoolService(router, [new EngineProvider("embedded", () => engine)], store, NullLogger<PoolService>.Instance);
        var volumes = new VolumeService(router, store, new KeyedLock(), new TargetIndex(), [new AdminRecordReconciler()], NullLogger<VolumeService>.Instance);
        return new Parts(engine, store, router, pools, volumes);
    }

    [Fact]
    public async Task A_name_in_a_pool_that_was_never_created_is_an_error_and_creates_nothing()
    {
        using var p = Open();
        await p.Pools.LoadAsync(ct: Ct);
        var e = await Assert.ThrowsAsync<CairnException>(() => p.Volumes.CreateVolumeAsync("tank/a", 1 << 20, parents: true, ct: Ct));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains("pool tank does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains("cairn pool create tank", e.Message, StringComparison.Ordinal);
        Assert.Empty(p.Engine.List());
        Assert.Empty(p.Store.ListPools());

        await p.Pools.CreateAsync("tank", "embedded", Ct);
        var v = await p.Volumes.CreateVolumeAsync("tank/a", 1 << 20, parents: true, ct: Ct);
        Assert.Equal("tank/a", v.Dataset.Name);
        Assert.Equal(["tank"], p.Store.ListPools().Select(x => x.Name));
    }

    [Fact]
    public async Task Creating_a_pool_twice_an_unknown_engine_or_a_nested_name_is_refused()
    {
        using var p = Open();
        await p.Pools.CreateAsync("tank", null, Ct);
        Assert.Equal(ErrorKind.AlreadyExists, (await Assert.ThrowsAsync<CairnException>(() => p.Pools.CreateAsync("tank", "embedded", Ct))).Kind);
        var unknown = await Assert.ThrowsAsync<CairnException>(() => p.Pools.CreateAsync("other", "lvm", Ct));
        Assert.Contains("engine 'lvm' is not known", unknown.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorKind.InvalidArgument, (await Assert.ThrowsAsync<CairnException>(() => p.Pools.CreateAsync("a/b", null, Ct))).Kind);
        Assert.Equal(["tank"], p.Store.ListPools().Select(x => x.Name));
    }

    [Fact]
    public async Task Implicit_pools_of_an_older_data_directory_are_adopted_at_load()
    {
        // An engine directory written before pools were explicit: datasets under two top-level names, no pool records.
        Directory.CreateDirectory(_dir);
        using (var old = new EmbeddedEngine(Path.Combine(_dir, "pool")))
        {
            old.CreateVolume("tank/a", 1 << 20, parents: true);
            old.CreateVolume("backup/b", 1 << 20, parents: true);
        }
        using var p = Open();
        await p.Pools.LoadAsync(new Dictionary<string, string> { ["fresh"] = "embedded" }, Ct);
        Assert.Equal(["backup", "fresh", "tank"], p.Store.ListPools().Select(x => x.Name));
        Assert.All(p.Store.ListPools(), r => Assert.Equal("embedded", r.Engine));
        Assert.NotNull(await p.Volumes.GetAsync("tank/a", Ct));
        var view = await p.Pools.GetAsync("tank", Ct);
        Assert.Equal(1, view.Space!.Datasets);
        Assert.Null(view.Error);
    }

    [Fact]
    public async Task Pools_route_to_their_own_engines_and_list_only_bound_pools()
    {
        Directory.CreateDirectory(_dir);
        using var a = new EmbeddedEngine(Path.Combine(_dir, "a"), new EmbeddedEngineOptions { Durable = false });
        using var b = new EmbeddedEngine(Path.Combine(_dir, "b"), new EmbeddedEngineOptions { Durable = false });
        using var router = new PoolRouter();
        router.Bind("one", a);
        router.Bind("two", b);
        var results = await router.ApplyAsync(
        [
            new EngineOp.CreateVolume("one/v", 1 << 20),
            new EngineOp.CreateVolume("two/v", 1 << 20),
            new EngineOp.CreateVolume("three/v", 1 << 20),
        ], Ct);
        Assert.Null(results[0].Error);
        Assert.Null(results[1].Error);
        Assert.Equal(ErrorKind.NotFound, results[2].Error!.Kind);
        Assert.NotNull(a.Get("one/v"));
        Assert.Null(a.Get("two/v"));
        Assert.NotNull(b.Get("two/v"));
        Assert.Equal(["one", "one/v", "two", "two/v"], (await router.ListAsync(null, Ct)).Select(d => d.Name));
        await router.CreateSnapshotAsync("one/v", "s", Ct);
        var cross = await Assert.ThrowsAsync<CairnException>(() => router.CloneAsync("one/v", "s", "two/c", ct: Ct).AsTask());
        Assert.Contains("stays in its origin's pool", cross.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_admin_module_cannot_destroy_or_resize_a_volume_another_module_owns()
    {
        using var p = Open();
        await p.Pools.CreateAsync("tank", null, Ct);
        var cinder = new Owner(Modules.BlockStorage, "project-1");
        await p.Volumes.CreateVolumeAsync("tank/volume-1", 1 << 20, parents: true, owner: cinder, ct: Ct);
        Assert.Equal(Modules.BlockStorage, p.Store.FindVolume("tank/volume-1")!.Module);

        var e = await Assert.ThrowsAsync<CairnException>(() => p.Volumes.DestroyAsync("tank/volume-1", recursive: false, ct: Ct));
        Assert.Equal(ErrorKind.Forbidden, e.Kind);
        Assert.Contains("block-storage", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<CairnException>(() => p.Volumes.ResizeAsync("tank/volume-1", 2 << 20, ct: Ct));
        var batch = await p.Volumes.ApplyAsync([new EngineOp.Destroy("tank/volume-1")], ct: Ct);
        Assert.Equal(ErrorKind.Forbidden, batch[0].Error!.Kind);
        // A recursive destroy of the folder above it is refused too, and nothing goes.
        await Assert.ThrowsAsync<CairnException>(() => p.Volumes.DestroyAsync("tank", recursive: true, ct: Ct));
        Assert.NotNull(p.Engine.Get("tank/volume-1"));

        await p.Volumes.DestroyAsync("tank/volume-1", recursive: false, owner: cinder, ct: Ct);
        Assert.Null(p.Engine.Get("tank/volume-1"));
        Assert.Null(p.Store.FindVolume("tank/volume-1"));
    }

    [Fact]
    public async Task Reconcile_leaves_records_of_a_module_without_reconciler_alone()
    {
        using var p = Open();
        await p.Pools.CreateAsync("tank", null, Ct);
        var now = DateTimeOffset.UtcNow;
        // A Block Storage volume still "creating": its dataset does not exist yet. The admin rule would delete it.
        var creating = new VolumeRecord(Guid.NewGuid(), "project-1", "tank/volume-2", "creating", 1 << 20, now, now, Module: Modules.BlockStorage);
        var adminGhost = new VolumeRecord(Guid.NewGuid(), Modules.Admin, "tank/ghost", "available", 1 << 20, now, now);
        await p.Store.WriteAsync(w => { w.Put(creating); w.Put(adminGhost); }, Ct);
        await p.Volumes.ReconcileAsync(Ct);
        Assert.NotNull(p.Store.GetVolume(creating.Id));
        Assert.Null(p.Store.GetVolume(adminGhost.Id));
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
