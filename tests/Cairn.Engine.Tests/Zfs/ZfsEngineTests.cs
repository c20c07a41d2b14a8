using Cairn.Core;
using Cairn.Core.Storage;
using Cairn.Engine.Zfs;
using Cairn.TestSupport;

namespace Cairn.Engine.Tests.Zfs;

/// <summary>What only the ZFS engine has: datasets made outside Cairn, ids from ZFS guids, real zpool names.</summary>
[Collection("zfs")]
public sealed class ZfsEngineTests(ZfsPoolFixture pool)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private ZfsEngine Engine => pool.Engine;
    private string Unique(string what) => $"{pool.Pool}/{what}-{Guid.NewGuid().ToString("N")[..6]}";

    [Fact]
    public async Task A_dataset_made_outside_Cairn_is_listed_unmanaged_and_never_destroyed()
    {
        var f = Unique("ext");
        await Engine.CreateFolderAsync(f, ct: Ct);
        await Engine.CreateVolumeAsync(f + "/v", 1 << 20, ct: Ct);
        // Under a Cairn folder the outside dataset inherits cairn:managed, which names the folder, not itself.
        await ZfsPoolFixture.Zfs("create", f + "/outside");
        await ZfsPoolFixture.Zfs("snapshot", f + "/v@manual");
        var plain = Unique("plain");
        await ZfsPoolFixture.Zfs("create", plain);
        try
        {
            var all = await Engine.ListAsync(ct: Ct); // without a root: re-reads the pool
            Assert.True(all.Single(d => d.Name == f).Managed);
            Assert.True(all.Single(d => d.Name == f + "/v").Managed);
            Assert.False(all.Single(d => d.Name == f + "/outside").Managed);
            Assert.False(all.Single(d => d.Name == plain).Managed);
            Assert.False(all.Single(d => d.Name == pool.Pool).Managed);
            Assert.False((await Engine.GetSnapshotAsync(f + "/v", "manual", Ct))!.Managed);

            var e = await Assert.ThrowsAsync<CairnException>(() => Engine.DestroyAsync(f + "/outside", ct: Ct).AsTask());
            Assert.Equal(ErrorKind.Forbidden, e.Kind);
            e = await Assert.ThrowsAsync<CairnException>(() => Engine.DestroyAsync(plain, ct: Ct).AsTask());
            Assert.Equal(ErrorKind.Forbidden, e.Kind);
            e = await Assert.ThrowsAsync<CairnException>(() => Engine.DestroyAsync(f, recursive: true, Ct).AsTask());
            Assert.Equal(ErrorKind.Forbidden, e.Kind);
            Assert.Contains(f + "/outside", e.Message, StringComparison.Ordinal);
            Assert.Contains(f + "/v@manual", e.Message, StringComparison.Ordinal);
            e = await Assert.ThrowsAsync<CairnException>(() => Engine.DestroySnapshotAsync(f + "/v", "manual", Ct).AsTask());
            Assert.Equal(ErrorKind.Forbidden, e.Kind);
            e = await Assert.ThrowsAsync<CairnException>(() => Engine.DestroyAsync(pool.Pool, recursive: true, Ct).AsTask());
            Assert.Equal(ErrorKind.Forbidden, e.Kind);

            var left = (await ZfsPoolFixture.Zfs("list", "-H", "-o", "name", "-t", "all", "-r", f)).StdOut;
            Assert.Contains(f + "/outside\n", left, StringComparison.Ordinal);
            Assert.Contains(f + "/v@manual\n", left, StringComparison.Ordinal);
        }
        finally
        {
            // zfs-fuse says "busy" for a while after a mount.
            await RetryBusy(() => ZfsPoolFixture.Zfs("destroy", "-r", f));
            await RetryBusy(() => ZfsPoolFixture.Zfs("destroy", plain));
        }
    }

    [Fact]
    public async Task What_is_destroyed_outside_Cairn_vanishes_after_a_refresh()
    {
        var v = Unique("gone");
        await Engine.CreateVolumeAsync(v, 1 << 20, ct: Ct);
        await Engine.CreateSnapshotAsync(v, "s", Ct);
        await ZfsPoolFixture.Zfs("destroy", v + "@s");
        await RetryBusy(() => ZfsPoolFixture.Zfs("destroy", v));
        Assert.NotNull(await Engine.GetAsync(v, Ct)); // the inventory does not look by itself…
        await Engine.RefreshAsync(Ct);                // …until asked (reconcile lists everything, which refreshes)
        Assert.Null(await Engine.GetAsync(v, Ct));
        Assert.Null(await Engine.GetSnapshotAsync(v, "s", Ct));
    }

    [Fact]
    public async Task Ids_are_the_zfs_guids_and_survive_a_new_engine()
    {
        var v = Unique("ids");
        var made = await Engine.CreateVolumeAsync(v, 1 << 20, ct: Ct);
        var snap = await Engine.CreateSnapshotAsync(v, "s", Ct);
        var guid = ulong.Parse((await ZfsPoolFixture.Zfs("get", "-H", "-p", "-o", "value", "guid", v)).StdOut.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(ZfsProps.IdOf(guid), made.Id);
        using var fresh = new ZfsEngine();
        Assert.Equal(made.Id, (await fresh.GetAsync(v, Ct))!.Id);
        Assert.Equal(snap.Id, (await fresh.GetSnapshotAsync(v, "s", Ct))!.Id);
        Assert.Equal(1 << 20, (await fresh.GetSnapshotAsync(v, "s", Ct))!.Size);
        await Engine.DestroyAsync(v, recursive: true, Ct);
    }

    [Fact]
    public async Task Backing_paths_are_the_image_files_of_volumes_clones_and_snapshots()
    {
        var f = Unique("paths");
        await Engine.CreateVolumeAsync(f + "/gold", 4L << 20, parents: true, ct: Ct);
        var data = new byte[65536];
        new Random(9).NextBytes(data);
        using (var dev = await Engine.OpenAsync(f + "/gold", Ct)) dev.Write(0, data, fua: true);
        var viewsBefore = await ViewsAsync();
        await Engine.CreateSnapshotAsync(f + "/gold", "s", Ct);
        await Engine.CloneAsync(f + "/gold", "s", f + "/c", ct: Ct);
        var clonePath = await Engine.GetBackingPathAsync(f + "/c", ct: Ct);
        var snapPath = await Engine.GetBackingPathAsync(f + "/gold", "s", Ct);
        Assert.EndsWith("/" + ZfsEngine.ImageFileName, clonePath, StringComparison.Ordinal);
        Assert.Equal(4L << 20, new FileInfo(clonePath!).Length);
        Assert.Equal(data, File.ReadAllBytes(snapPath!).AsSpan(0, data.Length).ToArray());
        Assert.Equal(data, File.ReadAllBytes(clonePath!).AsSpan(0, data.Length).ToArray());
        // The snapshot's view is Cairn's own: never listed, and gone with the snapshot.
        Assert.DoesNotContain(await Engine.ListAsync(ct: Ct), d => d.Name.Contains(".cairn-", StringComparison.Ordinal));
        await Engine.DestroyAsync(f + "/c", ct: Ct);
        await Engine.DestroySnapshotAsync(f + "/gold", "s", Ct);
        // Other tests' snapshots may still have their views: this snapshot's view, and only it, is gone again.
        Assert.Equal(viewsBefore, await ViewsAsync());
        await Engine.DestroyAsync(f, recursive: true, Ct);
    }

    private async Task<string[]> ViewsAsync() =>
        [.. (await ZfsPoolFixture.Zfs("list", "-H", "-o", "name", "-r", pool.Pool)).StdOut
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(n => n.Contains("/.cairn-", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task A_missing_pool_is_not_found()
    {
        var e = await Assert.ThrowsAsync<CairnException>(() => Engine.AttachPoolAsync("cairn-no-such-pool-" + Guid.NewGuid().ToString("N")[..6], Ct).AsTask());
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains(pool.Pool, await Engine.ListPoolsAsync(Ct));
    }

    [Fact]
    public async Task The_seed_names_work_unchanged()
    {
        const string seedPool = "na-jbod-02-p01";
        // The integration tests' LunZfsFixture makes the same zpool, possibly at the same time: take turns.
        using var turn = await MachineLock.AcquireAsync(seedPool, Ct);
        if ((await Engine.ListPoolsAsync(Ct)).Contains(seedPool))
        {
            Assert.False(ExternalTool.InCi, $"a pool {seedPool} exists on this machine and is not ours");
            Assert.Skip($"a pool {seedPool} exists on this machine and is not ours");
        }
        var file = Path.Combine(pool.Dir, "seed.img");
        using (var f = File.Create(file)) f.SetLength(1L << 30);
        await ZfsPoolFixture.Zpool("create", "-m", Path.Combine(pool.Dir, "seed"), seedPool, file);
        try
        {
            using var engine = new ZfsEngine();
            var info = await engine.AttachPoolAsync(seedPool, Ct);
            Assert.Equal(0, info.Datasets);
            const string image = "na-jbod-02-p01/projects/testbed/images/centos72-probe";
            await engine.CreateVolumeAsync(image, 64L << 20, parents: true, ct: Ct);
            await engine.CreateSnapshotAsync(image, "1", Ct);
            var ops = Enumerable.Range(1, 3).Select(i => (EngineOp)new EngineOp.CloneSnapshot(image, "1", $"na-jbod-02-p01/projects/testbed/nodes/n{i:000}", Parents: true)).ToList();
            var results = await engine.ApplyAsync(ops, Ct);
            Assert.All(results, r => Assert.Null(r.Error));
            Assert.Equal(image + "@1", results[0].Dataset!.Origin);
            Assert.True(File.Exists(await engine.GetBackingPathAsync("na-jbod-02-p01/projects/testbed/nodes/n002", ct: Ct)));
            var pi = await engine.GetPoolInfoAsync(seedPool, Ct);
            Assert.Equal(1, pi.Snapshots);
            Assert.Equal(8, pi.Datasets); // projects, testbed, images, the image, nodes, three clones
            Assert.Equal(["n001", "n002", "n003"], (await engine.GetSnapshotAsync(image, "1", Ct))!.Clones.Select(c => c[(c.LastIndexOf('/') + 1)..]));
        }
        finally
        {
            await ZfsDaemon.DestroyPoolAsync(seedPool);
            File.Delete(file);
        }
    }

    private static async Task RetryBusy(Func<Task> destroy)
    {
        for (int i = 0; ; i++)
        {
            try { await destroy(); return; }
            catch (CairnException e) when (i < 20 && e.Message.Contains("busy", StringComparison.Ordinal)) { await Task.Delay(100 << Math.Min(i, 4)); }
        }
    }
}
