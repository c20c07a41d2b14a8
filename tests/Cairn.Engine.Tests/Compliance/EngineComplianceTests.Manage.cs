using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine.Tests.Compliance;

/// <summary>Rename, rollback and promote, as zfs(8) defines them, on every engine.</summary>
public abstract partial class EngineComplianceTests
{
    /// <summary>Runs one op through the batch path (the only way in for these ops) and returns its result or throws its error.</summary>
    private static async Task<EngineOpResult> Op(IVolumeEngine engine, EngineOp op)
    {
        var r = (await engine.ApplyAsync([op], Ct))[0];
        if (r.Error is not null) throw r.Error;
        return r;
    }

    private Task<EngineOpResult> Op(EngineOp op) => Op(Engine, op);

    private static async Task<byte[]> ReadVolume(IVolumeEngine engine, string name, long offset, int length)
    {
        using var dev = await engine.OpenAsync(name, Ct);
        return Read(dev, offset, length);
    }

    private static async Task WriteVolume(IVolumeEngine engine, string name, long offset, byte[] data)
    {
        using var dev = await engine.OpenAsync(name, Ct);
        dev.Write(offset, data, fua: true);
    }

    [Fact]
    public async Task Rename_moves_a_volume_with_its_id_data_snapshots_and_clones()
    {
        var f = await FolderAsync();
        var a = Pattern(128 << 10, 31);
        var v = await Engine.CreateVolumeAsync(f + "/v", 4L << 20, ct: Ct);
        await WriteVolume(Engine, f + "/v", 0, a);
        var s = await Engine.CreateSnapshotAsync(f + "/v", "s", Ct);
        await Engine.CloneAsync(f + "/v", "s", f + "/c", ct: Ct);
        await Engine.CreateVolumeAsync(f + "/other", 1 << 20, ct: Ct);

        var r = await Op(new EngineOp.Rename(f + "/v", f + "/sub/w", Parents: true));
        Assert.Equal(f + "/sub/w", r.Dataset!.Name);
        Assert.Equal(v.Id, r.Dataset.Id);
        Assert.True(r.Dataset.Managed);
        Assert.Null(await Engine.GetAsync(f + "/v", Ct));
        Assert.Equal(v.Id, (await Engine.GetAsync(f + "/sub/w", Ct))!.Id);
        Assert.Equal(DatasetKind.Folder, (await Engine.GetAsync(f + "/sub", Ct))!.Kind);
        var snap = await Engine.GetSnapshotAsync(f + "/sub/w", "s", Ct);
        Assert.Equal(s.Id, snap!.Id);
        Assert.True(snap.Managed);
        Assert.Equal([f + "/c"], snap.Clones);
        Assert.Equal(f + "/sub/w@s", (await Engine.GetAsync(f + "/c", Ct))!.Origin);
        Assert.Equal(a, await ReadVolume(Engine, f + "/sub/w", 0, a.Length));
        using (var sd = await Engine.OpenSnapshotAsync(f + "/sub/w", "s", Ct)) Assert.Equal(a, Read(sd, 0, a.Length));

        // A folder moves with everything under it.
        var moved = await Op(new EngineOp.Rename(f + "/sub", f + "/moved"));
        Assert.Equal(DatasetKind.Folder, moved.Dataset!.Kind);
        Assert.Equal(v.Id, (await Engine.GetAsync(f + "/moved/w", Ct))!.Id);
        Assert.Equal(f + "/moved/w@s", (await Engine.GetAsync(f + "/c", Ct))!.Origin);
        Assert.Contains(f + "/moved/w", (await Engine.ListAsync(f, Ct)).Select(d => d.Name));

        // Refused, changing nothing: a name that exists, a missing source or parent, another pool, inside itself.
        await Throws<CairnException>(() => Op(new EngineOp.Rename(f + "/moved/w", f + "/other")), ErrorKind.AlreadyExists);
        await Throws<CairnException>(() => Op(new EngineOp.Rename(f + "/nothing", f + "/x")), ErrorKind.NotFound);
        await Throws<CairnException>(() => Op(new EngineOp.Rename(f + "/moved/w", f + "/no/parent")), ErrorKind.NotFound);
        await Throws<CairnException>(() => Op(new EngineOp.Rename(f + "/moved/w", "elsewhere/w")), ErrorKind.InvalidArgument);
        await Throws<CairnException>(() => Op(new EngineOp.Rename(f + "/moved", f + "/moved/inner")), ErrorKind.InvalidArgument);
        await Throws<CairnException>(() => Op(new EngineOp.Rename(Pool, Pool + "x")), ErrorKind.InvalidArgument);
        Assert.Equal(v.Id, (await Engine.GetAsync(f + "/moved/w", Ct))!.Id);
    }

    [Fact]
    public async Task Snapshot_rename_keeps_its_id_data_and_clones()
    {
        var f = await FolderAsync();
        var a = Pattern(64 << 10, 32);
        await Engine.CreateVolumeAsync(f + "/v", 2L << 20, ct: Ct);
        await WriteVolume(Engine, f + "/v", 4096, a);
        var s = await Engine.CreateSnapshotAsync(f + "/v", "a", Ct);
        await Engine.CreateSnapshotAsync(f + "/v", "other", Ct);
        await Engine.CloneAsync(f + "/v", "a", f + "/c", ct: Ct);

        var r = await Op(new EngineOp.RenameSnapshot(f + "/v", "a", "b"));
        Assert.Equal(f + "/v@b", r.Snapshot!.FullName);
        Assert.Equal(s.Id, r.Snapshot.Id);
        Assert.Null(await Engine.GetSnapshotAsync(f + "/v", "a", Ct));
        Assert.Equal(["b", "other"], (await Engine.ListSnapshotsAsync(f + "/v", Ct)).Select(x => x.Name).Order(StringComparer.Ordinal));
        Assert.Equal(f + "/v@b", (await Engine.GetAsync(f + "/c", Ct))!.Origin);
        using (var sd = await Engine.OpenSnapshotAsync(f + "/v", "b", Ct)) Assert.Equal(a, Read(sd, 4096, a.Length));

        await Throws<CairnException>(() => Op(new EngineOp.RenameSnapshot(f + "/v", "b", "other")), ErrorKind.AlreadyExists);
        await Throws<CairnException>(() => Op(new EngineOp.RenameSnapshot(f + "/v", "none", "x")), ErrorKind.NotFound);
        await Throws<CairnException>(() => Op(new EngineOp.RenameSnapshot(f + "/v", "b", "bad name")), ErrorKind.InvalidArgument);
    }

    [Fact]
    public async Task Rollback_reads_the_snapshot_data_and_goes_past_later_snapshots_only_when_asked()
    {
        var f = await FolderAsync();
        var a = Pattern(128 << 10, 33);
        var b = Pattern(128 << 10, 34);
        var c = Pattern(128 << 10, 35);
        await Engine.CreateVolumeAsync(f + "/v", 2L << 20, ct: Ct);
        await WriteVolume(Engine, f + "/v", 0, a);
        await Engine.CreateSnapshotAsync(f + "/v", "s1", Ct);
        await WriteVolume(Engine, f + "/v", 0, b);
        var s2 = await Engine.CreateSnapshotAsync(f + "/v", "s2", Ct);
        await Engine.ResizeAsync(f + "/v", 4L << 20, Ct);
        await WriteVolume(Engine, f + "/v", 0, c);
        await WriteVolume(Engine, f + "/v", 3L << 20, c);

        // To the most recent snapshot: its data and its size.
        var r = await Op(new EngineOp.Rollback(f + "/v", "s2"));
        Assert.Equal(2L << 20, r.Dataset!.Size);
        Assert.Empty(r.Removed ?? []);
        Assert.Equal(b, await ReadVolume(Engine, f + "/v", 0, b.Length));

        // Past a later snapshot: refused without DestroyLater, naming it.
        var e = await Throws<CairnException>(() => Op(new EngineOp.Rollback(f + "/v", "s1")), ErrorKind.Conflict);
        Assert.Contains(f + "/v@s2", e.Message, StringComparison.Ordinal);
        Assert.Equal(b, await ReadVolume(Engine, f + "/v", 0, b.Length));

        // A later snapshot with a clone is refused even then; the clone keeps it.
        await WriteVolume(Engine, f + "/v", 0, c);
        await Engine.CreateSnapshotAsync(f + "/v", "s3", Ct);
        await Engine.CloneAsync(f + "/v", "s3", f + "/clone", ct: Ct);
        e = await Throws<CairnException>(() => Op(new EngineOp.Rollback(f + "/v", "s1", DestroyLater: true)), ErrorKind.Conflict);
        Assert.Contains(f + "/clone", e.Message, StringComparison.Ordinal);
        await Engine.DestroyAsync(f + "/clone", ct: Ct);

        r = await Op(new EngineOp.Rollback(f + "/v", "s1", DestroyLater: true));
        Assert.Contains(s2.Id, r.Removed!);
        Assert.Equal(2, r.Removed!.Count);
        Assert.Equal(["s1"], (await Engine.ListSnapshotsAsync(f + "/v", Ct)).Select(x => x.Name));
        Assert.Equal(a, await ReadVolume(Engine, f + "/v", 0, a.Length));

        // The volume goes on from there: new writes, a new snapshot of the same name as a destroyed one.
        await WriteVolume(Engine, f + "/v", 0, b);
        await Engine.CreateSnapshotAsync(f + "/v", "s2", Ct);
        Assert.Equal(b, await ReadVolume(Engine, f + "/v", 0, b.Length));
        await Throws<CairnException>(() => Op(new EngineOp.Rollback(f + "/v", "none")), ErrorKind.NotFound);
        await Throws<CairnException>(() => Op(new EngineOp.Rollback(f + "/none", "s1")), ErrorKind.NotFound);
    }

    [Fact]
    public async Task Promote_moves_the_origin_snapshot_to_the_clone_so_the_origin_can_be_destroyed()
    {
        var f = await FolderAsync();
        var a = Pattern(128 << 10, 36);
        var b = Pattern(128 << 10, 37);
        var c = Pattern(64 << 10, 38);
        await Engine.CreateVolumeAsync(f + "/gold", 2L << 20, ct: Ct);
        await WriteVolume(Engine, f + "/gold", 0, a);
        var old = await Engine.CreateSnapshotAsync(f + "/gold", "old", Ct);
        await WriteVolume(Engine, f + "/gold", 1L << 20, b);
        var s = await Engine.CreateSnapshotAsync(f + "/gold", "s", Ct);
        await Engine.CreateSnapshotAsync(f + "/gold", "after", Ct);
        var clone = await Engine.CloneAsync(f + "/gold", "s", f + "/c", ct: Ct);
        await WriteVolume(Engine, f + "/c", 512 << 10, c);
        await Engine.CreateSnapshotAsync(f + "/c", "mine", Ct);

        await Throws<CairnException>(() => Op(new EngineOp.Promote(f + "/gold")), ErrorKind.InvalidArgument);
        var r = await Op(new EngineOp.Promote(f + "/c"));
        Assert.Null(r.Dataset!.Origin);
        Assert.Equal(clone.Id, r.Dataset.Id);
        Assert.Equal(f + "/c@s", (await Engine.GetAsync(f + "/gold", Ct))!.Origin);
        var own = await Engine.ListSnapshotsAsync(f + "/c", Ct);
        Assert.Equal(["mine", "old", "s"], own.Select(x => x.Name).Order(StringComparer.Ordinal));
        Assert.Equal(s.Id, own.Single(x => x.Name == "s").Id);
        Assert.Equal(old.Id, own.Single(x => x.Name == "old").Id);
        Assert.Equal([f + "/gold"], own.Single(x => x.Name == "s").Clones);
        Assert.Equal(["after"], (await Engine.ListSnapshotsAsync(f + "/gold", Ct)).Select(x => x.Name));

        // The former origin goes; the promoted clone reads what it read before, and so do the moved snapshots.
        await Engine.DestroyAsync(f + "/gold", recursive: true, ct: Ct);
        Assert.Null(await Engine.GetAsync(f + "/gold", Ct));
        Assert.Equal(a, await ReadVolume(Engine, f + "/c", 0, a.Length));
        Assert.Equal(c, await ReadVolume(Engine, f + "/c", 512 << 10, c.Length));
        Assert.Equal(b, await ReadVolume(Engine, f + "/c", 1L << 20, b.Length));
        using (var sd = await Engine.OpenSnapshotAsync(f + "/c", "old", Ct))
        {
            Assert.Equal(a, Read(sd, 0, a.Length));
            Assert.Equal(new byte[b.Length], Read(sd, 1L << 20, b.Length));
        }
        // The moved snapshots belong to the clone now: destroyable there once nothing depends on them.
        await Engine.DestroySnapshotAsync(f + "/c", "old", Ct);
        Assert.Equal(a, await ReadVolume(Engine, f + "/c", 0, a.Length));

        // A clone whose snapshot names clash with the origin's is refused, changing nothing.
        await Engine.CreateVolumeAsync(f + "/g2", 1 << 20, ct: Ct);
        await Engine.CreateSnapshotAsync(f + "/g2", "x", Ct);
        await Engine.CloneAsync(f + "/g2", "x", f + "/c2", ct: Ct);
        await Engine.CreateSnapshotAsync(f + "/c2", "x", Ct);
        await Throws<CairnException>(() => Op(new EngineOp.Promote(f + "/c2")), ErrorKind.Conflict);
        Assert.Equal(f + "/g2@x", (await Engine.GetAsync(f + "/c2", Ct))!.Origin);
    }

    [Fact]
    public async Task Rename_rollback_and_promote_survive_an_engine_that_was_never_disposed()
    {
        var f = await FolderAsync();
        var a = Pattern(128 << 10, 39);
        var b = Pattern(128 << 10, 40);
        var (engine, reopen) = OpenCrashable();
        var v = await engine.CreateVolumeAsync(f + "/v", 2L << 20, parents: true, ct: Ct);
        await WriteVolume(engine, f + "/v", 0, a);
        var s = await engine.CreateSnapshotAsync(f + "/v", "s", Ct);
        await WriteVolume(engine, f + "/v", 0, b);
        await engine.CreateSnapshotAsync(f + "/v", "later", Ct);
        await Op(engine, new EngineOp.Rollback(f + "/v", "s", DestroyLater: true));
        await Op(engine, new EngineOp.Rename(f + "/v", f + "/w"));
        await Op(engine, new EngineOp.RenameSnapshot(f + "/w", "s", "t"));
        var c = await engine.CloneAsync(f + "/w", "t", f + "/c", ct: Ct);
        await Op(engine, new EngineOp.Promote(f + "/c"));

        // The engine is dropped as a kill -9 would drop it; a second one finds every change.
        using var again = reopen();
        Assert.Null(await again.GetAsync(f + "/v", Ct));
        var w = await again.GetAsync(f + "/w", Ct);
        Assert.Equal(v.Id, w!.Id);
        Assert.Equal(f + "/c@t", w.Origin);
        Assert.Null((await again.GetAsync(f + "/c", Ct))!.Origin);
        Assert.Equal(s.Id, (await again.GetSnapshotAsync(f + "/c", "t", Ct))!.Id);
        Assert.Empty(await again.ListSnapshotsAsync(f + "/w", Ct));
        Assert.Equal(a, await ReadVolume(again, f + "/w", 0, a.Length));
        Assert.Equal(a, await ReadVolume(again, f + "/c", 0, a.Length));
        await again.DestroyAsync(f + "/w", ct: Ct);
        Assert.Equal(a, await ReadVolume(again, f + "/c", 0, a.Length));
        Assert.Equal(c.Id, (await again.GetAsync(f + "/c", Ct))!.Id);
        GC.KeepAlive(engine);
    }
}
