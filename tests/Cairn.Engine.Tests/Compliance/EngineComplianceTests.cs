using System.Diagnostics;
using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine.Tests.Compliance;

/// <summary>
/// What every <see cref="IVolumeEngine"/> must do, written against the interface only; one subclass per engine.
/// Each test works under its own folder of the subclass's pool, so the tests of one class can share a pool.
/// </summary>
public abstract partial class EngineComplianceTests
{
    /// <summary>The engine under test (shared by the tests of a class).</summary>
    protected abstract IVolumeEngine Engine { get; }

    /// <summary>The pool the tests work in.</summary>
    protected abstract string Pool { get; }

    /// <summary>
    /// An engine of its own for the crash test (it is abandoned, never disposed) and a way to open its storage again
    /// while the first is still alive and told nothing: what a restart after kill -9 finds.
    /// </summary>
    protected abstract (IVolumeEngine Engine, Func<IVolumeEngine> Reopen) OpenCrashable();

    private static int _counter;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A fresh folder for one test: <c>POOL/tN</c>.</summary>
    protected async Task<string> FolderAsync()
    {
        var name = $"{Pool}/t{Interlocked.Increment(ref _counter)}-{Guid.NewGuid().ToString("N")[..6]}";
        await Engine.CreateFolderAsync(name, parents: true, ct: Ct);
        return name;
    }

    protected static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static byte[] Read(IBlockDevice dev, long offset, int length)
    {
        var buf = new byte[length];
        dev.Read(offset, buf);
        return buf;
    }

    private static async Task<T> Throws<T>(Func<Task> call, ErrorKind kind) where T : CairnException
    {
        var e = await Assert.ThrowsAnyAsync<T>(call);
        Assert.Equal(kind, e.Kind);
        return e;
    }

    [Fact]
    public async Task Created_volume_is_listed_with_its_size_and_a_stable_id()
    {
        var f = await FolderAsync();
        var v = await Engine.CreateVolumeAsync(f + "/v", 64L << 20, ct: Ct);
        Assert.Equal(DatasetKind.Volume, v.Kind);
        Assert.Equal(64L << 20, v.Size);
        Assert.True(v.Managed);
        Assert.NotEqual(Guid.Empty, v.Id);
        var again = await Engine.GetAsync(f + "/v", Ct);
        Assert.Equal(v.Id, again!.Id);
        var listed = await Engine.ListAsync(f, Ct);
        Assert.Equal([f, f + "/v"], listed.Select(d => d.Name));
        Assert.Equal(DatasetKind.Folder, listed[0].Kind);
        Assert.Null(await Engine.GetAsync(f + "/nothing", Ct));
        await Throws<CairnException>(() => Engine.CreateVolumeAsync(f + "/v", 1 << 20, ct: Ct).AsTask(), ErrorKind.AlreadyExists);
        await Throws<CairnException>(() => Engine.CreateVolumeAsync(f + "/no/such/parent", 1 << 20, ct: Ct).AsTask(), ErrorKind.NotFound);
        var deep = await Engine.CreateVolumeAsync(f + "/a/b/c", 1 << 20, parents: true, ct: Ct);
        Assert.Equal(DatasetKind.Folder, (await Engine.GetAsync(f + "/a/b", Ct))!.Kind);
        Assert.Equal(1 << 20, deep.Size);
    }

    [Fact]
    public async Task Written_data_reads_back_and_unwritten_ranges_read_as_zeros()
    {
        var f = await FolderAsync();
        await Engine.CreateVolumeAsync(f + "/v", 16L << 20, ct: Ct);
        var a = Pattern(1 << 20, 1);
        var b = Pattern(4096, 2);
        using (var dev = await Engine.OpenAsync(f + "/v", Ct))
        {
            Assert.False(dev.ReadOnly);
            Assert.Equal(16L << 20, dev.Size);
            dev.Write(1 << 20, a, fua: false);
            dev.Write(8L << 20, b, fua: true);
            dev.Flush();
            Assert.Equal(a, Read(dev, 1 << 20, a.Length));
            Assert.True(Read(dev, 0, 1 << 20).All(x => x == 0));
            dev.Discard(1 << 20, 1 << 20);
            Assert.True(Read(dev, 1 << 20, 1 << 20).All(x => x == 0));
            dev.WriteZeroes(8L << 20, 4096, unmap: false);
            Assert.True(Read(dev, 8L << 20, 4096).All(x => x == 0));
            dev.Write(2 << 20, a, fua: false);
            var ranges = dev.GetAllocatedRanges(0, dev.Size);
            Assert.Contains(ranges, r => r.Offset <= 2 << 20 && r.End >= (2 << 20) + a.Length);
            Assert.ThrowsAny<CairnException>(() => dev.Write(dev.Size, b, fua: false));
            Assert.ThrowsAny<CairnException>(() => dev.Read(100, new byte[512]));
        }
        using var reopened = await Engine.OpenAsync(f + "/v", Ct);
        Assert.Equal(a, Read(reopened, 2 << 20, a.Length));
    }

    [Fact]
    public async Task Async_block_path_reads_what_the_sync_path_wrote_and_the_reverse()
    {
        var f = await FolderAsync();
        await Engine.CreateVolumeAsync(f + "/v", 8L << 20, ct: Ct);
        var a = Pattern(128 << 10, 3);
        var b = Pattern(4096, 4);
        using var dev = await Engine.OpenAsync(f + "/v", Ct);
        dev.Write(0, a, fua: false);
        var got = new byte[a.Length];
        await dev.ReadAsync(0, got, Ct);
        Assert.Equal(a, got);
        await dev.WriteAsync(4L << 20, b, fua: true, Ct);
        await dev.WriteAsync(5L << 20, a, fua: false, Ct);
        await dev.FlushAsync(Ct);
        Assert.Equal(b, Read(dev, 4L << 20, b.Length));
        Assert.Equal(a, Read(dev, 5L << 20, a.Length));
        await Assert.ThrowsAnyAsync<CairnException>(() => dev.WriteAsync(dev.Size, b, fua: false, Ct).AsTask());
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dev.WriteAsync(0, b, fua: false, cancelled.Token).AsTask());
        Assert.Equal(a, Read(dev, 0, a.Length)); // the cancelled write changed nothing
    }

    [Fact]
    public async Task Snapshot_keeps_the_data_it_saw_and_opens_read_only()
    {
        var f = await FolderAsync();
        await Engine.CreateVolumeAsync(f + "/v", 8L << 20, ct: Ct);
        var a = Pattern(256 << 10, 3);
        var b = Pattern(256 << 10, 4);
        using var dev = await Engine.OpenAsync(f + "/v", Ct);
        dev.Write(0, a, fua: false);
        dev.Flush();
        var s = await Engine.CreateSnapshotAsync(f + "/v", "s1", Ct);
        Assert.Equal(f + "/v@s1", s.FullName);
        Assert.Equal(8L << 20, s.Size);
        Assert.True(s.Managed);
        Assert.Empty(s.Clones);
        dev.Write(0, b, fua: true);
        using (var snap = await Engine.OpenSnapshotAsync(f + "/v", "s1", Ct))
        {
            Assert.True(snap.ReadOnly);
            Assert.Equal(s.Id, snap.Id);
            Assert.Equal(a, Read(snap, 0, a.Length));
            Assert.ThrowsAny<CairnException>(() => snap.Write(0, b, fua: false));
        }
        Assert.Equal(b, Read(dev, 0, b.Length));
        Assert.Equal(s.Id, (await Engine.GetSnapshotAsync(f + "/v", "s1", Ct))!.Id);
        Assert.Equal(["s1"], (await Engine.ListSnapshotsAsync(f + "/v", Ct)).Select(x => x.Name));
        await Throws<CairnException>(() => Engine.CreateSnapshotAsync(f + "/v", "s1", Ct).AsTask(), ErrorKind.AlreadyExists);
        await Throws<CairnException>(() => Engine.CreateSnapshotAsync(f + "/none", "s1", Ct).AsTask(), ErrorKind.NotFound);
    }

    [Fact]
    public async Task Clone_reads_the_origin_data_and_then_diverges()
    {
        var f = await FolderAsync();
        await Engine.CreateVolumeAsync(f + "/gold", 8L << 20, ct: Ct);
        var a = Pattern(512 << 10, 5);
        using (var g = await Engine.OpenAsync(f + "/gold", Ct))
        {
            g.Write(4096, a, fua: true);
        }
        await Engine.CreateSnapshotAsync(f + "/gold", "v1", Ct);
        var c = await Engine.CloneAsync(f + "/gold", "v1", f + "/nodes/n1", parents: true, ct: Ct);
        Assert.Equal(f + "/gold@v1", c.Origin);
        Assert.Equal(8L << 20, c.Size);
        Assert.Equal(DatasetKind.Volume, c.Kind);
        Assert.Equal([f + "/nodes/n1"], (await Engine.GetSnapshotAsync(f + "/gold", "v1", Ct))!.Clones);
        var b = Pattern(64 << 10, 6);
        using (var n1 = await Engine.OpenAsync(f + "/nodes/n1", Ct))
        {
            Assert.Equal(a, Read(n1, 4096, a.Length));
            n1.Write(4096, b, fua: true);
            Assert.Equal(b, Read(n1, 4096, b.Length));
        }
        using var gold = await Engine.OpenAsync(f + "/gold", Ct);
        Assert.Equal(a, Read(gold, 4096, a.Length));
        await Throws<CairnException>(() => Engine.CloneAsync(f + "/gold", "nope", f + "/nodes/n2", ct: Ct).AsTask(), ErrorKind.NotFound);
        await Throws<CairnException>(() => Engine.CloneAsync(f + "/gold", "v1", f + "/nodes/n1", ct: Ct).AsTask(), ErrorKind.AlreadyExists);
    }

    [Fact]
    public async Task Snapshot_with_clones_is_refused_naming_them()
    {
        var f = await FolderAsync();
        await Engine.CreateVolumeAsync(f + "/v", 1 << 20, ct: Ct);
        await Engine.CreateSnapshotAsync(f + "/v", "s", Ct);
        await Engine.CloneAsync(f + "/v", "s", f + "/c1", ct: Ct);
        await Engine.CloneAsync(f + "/v", "s", f + "/c2", ct: Ct);
        var e = await Throws<CairnException>(() => Engine.DestroySnapshotAsync(f + "/v", "s", Ct).AsTask(), ErrorKind.Conflict);
        Assert.Contains($"{f}/c1, {f}/c2", e.Message, StringComparison.Ordinal);
        // Recursive destroy of the origin never takes clones that live elsewhere with it.
        e = await Throws<CairnException>(() => Engine.DestroyAsync(f + "/v", recursive: true, Ct).AsTask(), ErrorKind.Conflict);
        Assert.Contains(f + "/c1", e.Message, StringComparison.Ordinal);
        Assert.NotNull(await Engine.GetAsync(f + "/c1", Ct));
        await Engine.DestroyAsync(f + "/c1", ct: Ct);
        await Engine.DestroyAsync(f + "/c2", ct: Ct);
        await Engine.DestroySnapshotAsync(f + "/v", "s", Ct);
        Assert.Null(await Engine.GetSnapshotAsync(f + "/v", "s", Ct));
    }

    [Fact]
    public async Task Dataset_with_snapshots_is_refused_unless_recursive_and_missing_is_not_found()
    {
        var f = await FolderAsync();
        var v = await Engine.CreateVolumeAsync(f + "/v", 1 << 20, ct: Ct);
        var s = await Engine.CreateSnapshotAsync(f + "/v", "s", Ct);
        var e = await Throws<CairnException>(() => Engine.DestroyAsync(f + "/v", ct: Ct).AsTask(), ErrorKind.Conflict);
        Assert.Contains(f + "/v@s", e.Message, StringComparison.Ordinal);
        await Throws<CairnException>(() => Engine.DestroyAsync(f, ct: Ct).AsTask(), ErrorKind.Conflict); // has children
        var results = await Engine.ApplyAsync([new EngineOp.Destroy(f + "/v", Recursive: true)], Ct);
        Assert.Null(results[0].Error);
        Assert.Contains(v.Id, results[0].Removed!);
        Assert.Contains(s.Id, results[0].Removed!);
        Assert.Null(await Engine.GetAsync(f + "/v", Ct));
        await Throws<CairnException>(() => Engine.DestroyAsync(f + "/v", ct: Ct).AsTask(), ErrorKind.NotFound);
        await Throws<CairnException>(() => Engine.DestroySnapshotAsync(f + "/v", "s", Ct).AsTask(), ErrorKind.NotFound);
        await Engine.DestroyAsync(f, ct: Ct);
        Assert.Null(await Engine.GetAsync(f, Ct));
    }

    [Fact]
    public async Task Resize_grows_under_an_open_device_and_refuses_to_shrink()
    {
        var f = await FolderAsync();
        await Engine.CreateVolumeAsync(f + "/v", 4L << 20, ct: Ct);
        using var dev = await Engine.OpenAsync(f + "/v", Ct);
        var grown = await Engine.ResizeAsync(f + "/v", 12L << 20, Ct);
        Assert.Equal(12L << 20, grown.Size);
        Assert.Equal(12L << 20, dev.Size);
        var a = Pattern(8192, 7);
        dev.Write(10L << 20, a, fua: true);
        Assert.Equal(a, Read(dev, 10L << 20, a.Length));
        Assert.Equal(12L << 20, (await Engine.GetAsync(f + "/v", Ct))!.Size);
        await Throws<CairnException>(() => Engine.ResizeAsync(f + "/v", 2L << 20, Ct).AsTask(), ErrorKind.InvalidArgument);
        await Throws<CairnException>(() => Engine.ResizeAsync(f + "/none", 20L << 20, Ct).AsTask(), ErrorKind.NotFound);
    }

    [Fact]
    public async Task Space_figures_move_with_writes()
    {
        var f = await FolderAsync();
        var before = await Engine.CreateVolumeAsync(f + "/v", 32L << 20, ct: Ct);
        using (var dev = await Engine.OpenAsync(f + "/v", Ct))
        {
            for (int i = 0; i < 8; i++) dev.Write((long)i << 20, Pattern(1 << 20, 10 + i), fua: false);
            dev.Flush();
        }
        // ZFS counts written data when its transaction group syncs: wait for the figure, not for a fixed time.
        var deadline = Stopwatch.StartNew();
        DatasetInfo now;
        while ((now = (await Engine.GetAsync(f + "/v", Ct))!).Referenced < before.Referenced + (4L << 20))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), $"referenced stayed at {now.Referenced} (was {before.Referenced})");
            await Task.Delay(200, Ct);
        }
        Assert.True(now.Used >= 4L << 20, $"used {now.Used}");
        var pool = await Engine.GetPoolInfoAsync(Pool, Ct);
        Assert.True(pool.Allocated >= 4L << 20 && pool.Size >= pool.Allocated && pool.Free > 0, pool.ToString());
        Assert.True(pool.Datasets >= 2, pool.ToString());
    }

    [Fact]
    public async Task Properties_round_trip_where_the_engine_has_them()
    {
        if (!Engine.Capabilities.HasFlag(EngineCapabilities.Properties)) Assert.Skip($"{Engine.Kind} has no properties");
        var f = await FolderAsync();
        var props = new Dictionary<string, string> { ["project"] = "testbed", ["lun.wwn"] = "naa.6001405abc" };
        var v = await Engine.CreateVolumeAsync(f + "/v", 1 << 20, properties: props, ct: Ct);
        Assert.Equal(props, v.Properties);
        Assert.Equal(props, (await Engine.GetAsync(f + "/v", Ct))!.Properties);
        await Engine.CreateSnapshotAsync(f + "/v", "s", Ct);
        var c = await Engine.CloneAsync(f + "/v", "s", f + "/c", properties: new Dictionary<string, string> { ["node"] = "n001" }, ct: Ct);
        Assert.Equal(new Dictionary<string, string> { ["node"] = "n001" }, c.Properties);
        Assert.Equal(props, (await Engine.ListAsync(f, Ct)).Single(d => d.Name == f + "/v").Properties);
        await Throws<CairnException>(() => Engine.CreateVolumeAsync(f + "/bad", 1 << 20,
            properties: new Dictionary<string, string> { ["has space"] = "x" }, ct: Ct).AsTask(), ErrorKind.InvalidArgument);
    }

    [Fact]
    public async Task A_batch_with_one_bad_op_fails_only_that_op()
    {
        var f = await FolderAsync();
        await Engine.CreateVolumeAsync(f + "/gold", 1 << 20, ct: Ct);
        await Engine.CreateSnapshotAsync(f + "/gold", "s", Ct);
        var ops = new List<EngineOp>();
        for (int i = 0; i < 12; i++) ops.Add(new EngineOp.CloneSnapshot(f + "/gold", "s", $"{f}/nodes/n{i:00}", Parents: true));
        ops.Insert(5, new EngineOp.CloneSnapshot(f + "/gold", "missing", f + "/nodes/bad", Parents: true));
        ops.Add(new EngineOp.CreateSnapshot(f + "/gold", "s2"));
        ops.Add(new EngineOp.CloneSnapshot(f + "/gold", "s2", f + "/late"));
        var results = await Engine.ApplyAsync(ops, Ct);
        Assert.Equal(ops.Count, results.Count);
        for (int i = 0; i < ops.Count; i++)
        {
            Assert.Same(ops[i], results[i].Op);
            if (i == 5)
            {
                Assert.Equal(ErrorKind.NotFound, results[i].Error!.Kind);
                continue;
            }
            Assert.Null(results[i].Error);
        }
        Assert.Equal(f + "/nodes/n00", results[0].Dataset!.Name);
        Assert.Equal(f + "/gold@s", results[0].Dataset!.Origin);
        Assert.NotEqual(Guid.Empty, results[0].Dataset!.Id);
        Assert.Equal("s2", results[^2].Snapshot!.Name);
        Assert.Equal(f + "/gold@s2", results[^1].Dataset!.Origin);
        Assert.Equal(12, (await Engine.ListAsync(f + "/nodes", Ct)).Count(d => d.Kind == DatasetKind.Volume));
        Assert.Null(await Engine.GetAsync(f + "/nodes/bad", Ct));

        var destroys = (await Engine.ListAsync(f + "/nodes", Ct)).Where(d => d.Kind == DatasetKind.Volume)
            .Select(d => (EngineOp)new EngineOp.Destroy(d.Name)).Append(new EngineOp.Destroy(f + "/nodes/none")).ToList();
        var gone = await Engine.ApplyAsync(destroys, Ct);
        Assert.All(gone.SkipLast(1), r => Assert.Null(r.Error));
        Assert.Equal(ErrorKind.NotFound, gone[^1].Error!.Kind);
        Assert.Single(gone[0].Removed!);
    }

    [Fact]
    public async Task A_flushed_write_survives_an_engine_that_was_never_disposed()
    {
        var f = await FolderAsync();
        var a = Pattern(1 << 20, 21);
        var b = Pattern(64 << 10, 22);
        var (engine, reopen) = OpenCrashable();
        var v = await engine.CreateVolumeAsync(f + "/v", 8L << 20, parents: true, ct: Ct);
        var dev = await engine.OpenAsync(f + "/v", Ct);
        dev.Write(0, a, fua: false);
        dev.Flush();
        await engine.CreateSnapshotAsync(f + "/v", "s", Ct);
        await engine.CloneAsync(f + "/v", "s", f + "/c", ct: Ct);
        dev.Write(4L << 20, b, fua: true);
        // The device and the engine are dropped as a kill -9 would drop them; a second engine finds what was durable.
        using var again = reopen();
        var found = await again.GetAsync(f + "/v", Ct);
        Assert.Equal(v.Id, found!.Id);
        Assert.Equal(f + "/v@s", (await again.GetAsync(f + "/c", Ct))!.Origin);
        using (var d2 = await again.OpenAsync(f + "/v", Ct))
        {
            Assert.Equal(a, Read(d2, 0, a.Length));
            Assert.Equal(b, Read(d2, 4L << 20, b.Length));
        }
        using var c = await again.OpenAsync(f + "/c", Ct);
        Assert.Equal(a, Read(c, 0, a.Length));
        // Only now, after the second engine has read everything: an open file would keep a pool from being destroyed.
        dev.Dispose();
        GC.KeepAlive(engine);
    }
}
